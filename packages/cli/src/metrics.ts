/** Request counters and latency histograms, rendered in the Prometheus text exposition format (version 0.0.4). */

/** Histogram bucket upper bounds, in seconds: plugin calls take from ~50 µs (IPAM) to seconds (a slow firewall). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** One gauge sample: labels and value. */
export interface GaugeSample {
  labels: Record<string, string>;
  value: number | bigint;
}

/** A gauge family computed when scraped. */
export interface Gauge {
  name: string;
  help: string;
  samples: GaugeSample[];
}

/** Escapes a label value as the exposition format requires (backslash, quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(",")}}`;
}

/** Counts plugin requests by call and status and keeps a latency histogram per call. */
export class RequestMetrics {
  readonly #requests = new Map<string, number>();
  readonly #latency = new Map<string, Histogram>();

  /** Records one answered request (the server's `onRequest` hook). Unknown paths are folded into one call label. */
  record(call: string, status: number, durationMs: number): void {
    const name = /^(NetworkDriver|IpamDriver|Plugin)\.[A-Za-z]+$/.test(call) ? call : "unknown";
    const key = `${name}\u0000${status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let histogram = this.#latency.get(name);
    if (histogram === undefined) {
      histogram = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#latency.set(name, histogram);
    }
    const seconds = durationMs / 1000;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= (LATENCY_BUCKETS[i] ?? 0)) histogram.counts[i] = (histogram.counts[i] ?? 0) + 1;
    }
    histogram.sum += seconds;
    histogram.count += 1;
  }

  /** Total requests recorded. */
  get total(): number {
    let sum = 0;
    for (const count of this.#requests.values()) sum += count;
    return sum;
  }

  /** The exposition text: requests, latency, then the given gauges. */
  render(gauges: readonly Gauge[] = []): string {
    const lines: string[] = [
      "# HELP tsnet_requests_total Plugin requests answered, by call and HTTP status.",
      "# TYPE tsnet_requests_total counter",
    ];
    for (const [key, count] of [...this.#requests].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [call = "", status = ""] = key.split("\u0000");
      lines.push(`tsnet_requests_total${labelText({ call, status })} ${count}`);
    }
    lines.push(
      "# HELP tsnet_request_duration_seconds Time to answer a plugin request, by call.",
      "# TYPE tsnet_request_duration_seconds histogram",
    );
    for (const [call, histogram] of [...this.#latency].sort(([a], [b]) => (a < b ? -1 : 1))) {
      LATENCY_BUCKETS.forEach((bound, i) => {
        lines.push(
          `tsnet_request_duration_seconds_bucket${labelText({ call, le: String(bound) })} ${histogram.counts[i]}`,
        );
      });
      lines.push(`tsnet_request_duration_seconds_bucket${labelText({ call, le: "+Inf" })} ${histogram.count}`);
      lines.push(`tsnet_request_duration_seconds_sum${labelText({ call })} ${histogram.sum}`);
      lines.push(`tsnet_request_duration_seconds_count${labelText({ call })} ${histogram.count}`);
    }
    for (const gauge of gauges) {
      lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`);
      for (const sample of gauge.samples) lines.push(`${gauge.name}${labelText(sample.labels)} ${sample.value}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
