// The endpoint bench's client with dockerd's own HTTP stack: Go's net/http over the plugin's unix socket, set up as
// moby's plugin client (pkg/plugins) sets it up: one Transport, compression off, a POST with the plugin Accept type
// and a JSON body. Same stdin/stdout protocol as ../plugin-client.c; the timing covers http.Client.Do and reading
// the body, as dockerd's call does.
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: plugin-client-go SOCKET")
		os.Exit(2)
	}
	socket := os.Args[1]
	transport := &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", socket)
		},
	}
	client := &http.Client{Transport: transport}
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for {
		var count int
		if _, err := fmt.Fscan(in, &count); err == io.EOF {
			return
		} else if err != nil {
			fail(err)
		}
		paths := make([]string, count)
		bodies := make([][]byte, count)
		for i := range paths {
			var length int
			if _, err := fmt.Fscan(in, &paths[i], &length); err != nil {
				fail(err)
			}
			if _, err := in.ReadByte(); err != nil { // the newline before the body
				fail(err)
			}
			bodies[i] = make([]byte, length)
			if _, err := io.ReadFull(in, bodies[i]); err != nil {
				fail(err)
			}
		}
		started := time.Now()
		for i := range paths {
			request, err := http.NewRequest("POST", "http://plugin.moby.localhost"+paths[i], bytes.NewReader(bodies[i]))
			if err != nil {
				fail(err)
			}
			request.Header.Add("Accept", "application/vnd.docker.plugins.v1.2+json")
			response, err := client.Do(request)
			if err != nil {
				fail(err)
			}
			body, err := io.ReadAll(response.Body)
			response.Body.Close()
			if err != nil {
				fail(err)
			}
			at := time.Since(started).Nanoseconds()
			fmt.Fprintf(out, "%d %d %d\n", response.StatusCode, at, len(body))
			out.Write(body)
		}
		out.Flush()
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "plugin-client-go:", err)
	os.Exit(1)
}
