import { suite } from "uvu";
import * as assert from "uvu/assert";
import { RequestMetrics } from "./metrics.js";
import { formatDuration, renderTable } from "./table.js";

const test = suite("rendering");

test("renderTable pads columns by the widest cell, 3 spaces apart, no trailing spaces", () => {
  assert.is(
    renderTable(
      ["ID", "NAME", "X"],
      [
        ["1a2b3c", "web", ""],
        ["9", "database", "y"],
      ],
    ),
    "ID       NAME       X\n1a2b3c   web\n9        database   y\n",
  );
  assert.is(renderTable(["A", "B"], []), "A   B\n");
});

test("formatDuration picks the two largest units", () => {
  assert.equal([5, 65, 3_725, 90_061].map(formatDuration), ["5s", "1m5s", "1h2m", "1d1h"]);
});

test("metrics: counters per call and status, cumulative histogram buckets, escaped labels, unknown paths folded", () => {
  const metrics = new RequestMetrics();
  metrics.record("NetworkDriver.Join", 200, 0.3);
  metrics.record("NetworkDriver.Join", 200, 30);
  metrics.record("NetworkDriver.Join", 404, 1);
  metrics.record('/etc/passwd"', 404, 1);
  const text = metrics.render([
    { name: "tsnet_pools", help: "Pools.", samples: [{ labels: { pool: 'a"b' }, value: 3n }] },
  ]);
  assert.match(text, /^tsnet_requests_total\{call="NetworkDriver.Join",status="200"\} 2$/m);
  assert.match(text, /^tsnet_requests_total\{call="NetworkDriver.Join",status="404"\} 1$/m);
  assert.match(text, /^tsnet_requests_total\{call="unknown",status="404"\} 1$/m);
  assert.match(text, /^tsnet_request_duration_seconds_bucket\{call="NetworkDriver.Join",le="0.0005"\} 1$/m);
  assert.match(text, /^tsnet_request_duration_seconds_bucket\{call="NetworkDriver.Join",le="0.05"\} 3$/m);
  assert.match(text, /^tsnet_request_duration_seconds_bucket\{call="NetworkDriver.Join",le="\+Inf"\} 3$/m);
  assert.match(text, /^tsnet_request_duration_seconds_count\{call="NetworkDriver.Join"\} 3$/m);
  assert.match(text, /^# TYPE tsnet_pools gauge$/m);
  assert.match(text, /^tsnet_pools\{pool="a\\"b"\} 3$/m);
  assert.is(metrics.total, 4);
});

test.run();
