module tsnet.example/plugin-client-go

go 1.19
