import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { matchesFilter } from "../lib/format";
import { Empty, Loading } from "./Page";

export interface Column<T> {
  header: string;
  cell: (row: T) => ComponentChildren;
}

/** A list with a filter box, and loading and empty states. `text` gives the strings the
 * filter searches (ids, names, states, tags). */
export function Table<T>(props: {
  label: string;
  rows: T[] | undefined;
  columns: Column<T>[];
  rowKey: (row: T) => string;
  text: (row: T) => (string | null | undefined)[];
  empty: ComponentChildren;
  loading?: boolean;
}) {
  const [filter, setFilter] = useState("");
  const filterId = `filter-${props.label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  if (props.rows === undefined) return props.loading === false ? null : <Loading what={`Loading ${props.label.toLowerCase()}`} />;
  const shown = props.rows.filter((row) => matchesFilter(filter, props.text(row)));
  return (
    <div class="table-wrap">
      {props.rows.length > 0 && (
        <div class="filter">
          <label for={filterId}>Filter {props.label.toLowerCase()}</label>
          <input id={filterId} type="search" value={filter} placeholder="id, name, state, tag…" onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} />
        </div>
      )}
      {props.rows.length === 0 ? (
        <Empty>{props.empty}</Empty>
      ) : shown.length === 0 ? (
        <Empty>Nothing matches “{filter}”.</Empty>
      ) : (
        <div class="scroll">
          <table aria-label={props.label}>
            <thead>
              <tr>
                {props.columns.map((c) => (
                  <th key={c.header} scope="col">
                    {c.header}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shown.map((row) => (
                <tr key={props.rowKey(row)}>
                  {props.columns.map((c) => (
                    <td key={c.header}>{c.cell(row)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
