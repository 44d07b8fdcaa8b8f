/**
 * Aligned text columns for the benchmark tables: the columns named in `left` padded on the
 * right, the others (the figures) on the left; no trailing white space.
 */
export function alignColumns(cells: readonly (readonly string[])[], left: ReadonlySet<number>): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells
    .map((c) =>
      c
        .map((v, i) => (left.has(i) ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
