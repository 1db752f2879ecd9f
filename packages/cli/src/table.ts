/** Plain-text tables as `docker ps` prints them: upper-case headers, columns padded with at least 3 spaces. */

/**
 * Renders rows under headers; every cell is text, columns are left-aligned and separated by 3 spaces, no trailing
 * spaces. An empty row list still prints the header line.
 * @example renderTable(["ID", "NAME"], [["1a2b", "web"]]) // "ID     NAME\n1a2b   web\n"
 */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => [...(row[column] ?? "")].length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("   ")
      .trimEnd();
  return `${[line(headers), ...rows.map((row) => line(headers.map((_, column) => row[column] ?? "")))].join("\n")}\n`;
}

/** A duration in seconds as `3d4h`, `2h5m`, `4m10s` or `12s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3_600);
  const minutes = Math.floor((s % 3_600) / 60);
  if (days > 0) return `${days}d${hours}h`;
  if (hours > 0) return `${hours}h${minutes}m`;
  if (minutes > 0) return `${minutes}m${s % 60}s`;
  return `${s}s`;
}
