import { runLab } from "./lab.js";

const result = await runLab(process.argv[2] ?? "");
console.log(`namespaces ${result.addresses.join(" and ")}: ping ${result.pinged ? "ok" : "FAILED"}; torn down`);
process.exitCode = result.pinged ? 0 : 1;
