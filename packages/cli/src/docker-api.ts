/** The few Docker Engine API calls the CLI makes (network name → id), over /var/run/docker.sock. */
import { request } from "node:http";

export const DOCKER_SOCKET = "/var/run/docker.sock";

/** GET a JSON document from the Docker API; undefined on 404. */
function dockerGet(socketPath: string, path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: "GET", path, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => {
        if (res.statusCode === 404) return resolve(undefined);
        if (res.statusCode !== 200) return reject(new Error(`docker API ${path}: ${res.statusCode} ${text.trim()}`));
        try {
          resolve(JSON.parse(text));
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`docker API: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * The id of a managed plugin (`docker plugin inspect NAME`), whose socket the host sees under
 * `/run/docker/plugins/<id>/` (protocol.md §1.1).
 * @returns the id, or undefined when Docker has no such plugin
 * @throws Error when Docker does not answer
 */
export async function dockerPluginId(socketPath: string, name: string, timeoutMs = 5_000): Promise<string | undefined> {
  const plugin = (await dockerGet(socketPath, `/plugins/${encodeURIComponent(name)}/json`, timeoutMs)) as
    | { Id?: unknown }
    | undefined;
  return typeof plugin?.Id === "string" ? plugin.Id : undefined;
}

/**
 * Resolves a Docker network name (or id) to its full id with `GET /networks/NAME`.
 * @returns the id, or undefined when Docker has no such network
 * @throws Error when Docker does not answer
 */
export function dockerNetworkId(socketPath: string, name: string, timeoutMs = 5_000): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method: "GET", path: `/networks/${encodeURIComponent(name)}`, timeout: timeoutMs },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          if (res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200)
            return reject(new Error(`docker API /networks/${name}: ${res.statusCode} ${text.trim()}`));
          try {
            const id = (JSON.parse(text) as { Id?: unknown }).Id;
            resolve(typeof id === "string" ? id : undefined);
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`docker API: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
