// Operator: the cloud at a glance (GET /v1/overview): instances by state (with a small
// inline SVG chart and its table for screen readers), capacity in use, storage.
import type { Schemas } from "../../api/types";
import { Link } from "../../components/Link";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, Page } from "../../components/Page";
import { CapacityBar } from "../../components/StateBadge";
import { api } from "../../lib/api";
import { barChart, Count, countsByState } from "../../lib/chart";
import { formatBytes } from "../../lib/format";
import { useLoad } from "../../lib/poll";
import { REFRESH_MS } from "./hosts";

type Overview = Schemas["Overview"];

const mib = (n: number) => formatBytes(n * 1024 * 1024);
const total = (counts: Count[]) => counts.reduce((sum, c) => sum + c.value, 0);

export function Overview(_props: { params: Record<string, string> }) {
  const overview = useLoad(() => api.get<Overview>("/v1/overview"), [], REFRESH_MS);
  const o = overview.data;
  return (
    <Page title="Overview">
      <ErrorBanner error={overview.error} />
      {!o ? (
        !overview.error && <Loading what="Loading the cloud's figures" />
      ) : (
        <Figures o={o} />
      )}
    </Page>
  );
}

function Figures({ o }: { o: Overview }) {
  const instances = countsByState(o.instances_by_state);
  const hosts = countsByState(o.hosts_by_state, []);
  // Terminated instances linger an hour; they hold nothing, so the headline leaves them out.
  const live = total(instances.filter((c) => c.label !== "terminated"));
  return (
    <>
      <ul class="stats" aria-label="Totals">
        <li>
          <span class="stat">{live}</span> instances
        </li>
        <li>
          <span class="stat">{total(hosts)}</span> <Link to="/operator/hosts">hosts</Link>
          {hosts.length > 0 && <span class="muted small"> ({hosts.map((h) => `${h.value} ${h.label}`).join(", ")})</span>}
        </li>
        <li>
          <span class="stat">{o.accounts.total}</span> <Link to="/operator/accounts">accounts</Link>
          {o.accounts.disabled > 0 && <span class="muted small"> ({o.accounts.disabled} disabled)</span>}
        </li>
        <li>
          <span class="stat">{o.volumes.count}</span> volumes <span class="muted small">({o.volumes.size_gib} GiB)</span>
        </li>
        <li>
          <span class="stat">{o.object_storage.objects.toLocaleString()}</span> objects <span class="muted small">({formatBytes(o.object_storage.object_bytes)})</span>
        </li>
      </ul>
      <div class="overview-grid">
        <section class="card" aria-labelledby="ov-instances">
          <h2 id="ov-instances">Instances by state</h2>
          <StateChart counts={instances} />
          {total(instances) === 0 && <p class="muted small">No instances in any account yet.</p>}
        </section>
        <section class="card" aria-labelledby="ov-capacity">
          <h2 id="ov-capacity">Capacity in use</h2>
          <CapacityBar label="vCPU" used={o.compute.vcpus_used} total={o.compute.vcpus_total} />
          <CapacityBar label="Memory" used={o.compute.memory_mib_used} total={o.compute.memory_mib_total} format={mib} />
          <h2 id="ov-storage">Object storage</h2>
          <CapacityBar label="Object storage used" used={o.object_storage.used_bytes} total={o.object_storage.capacity_bytes} format={formatBytes} />
          <p class="muted small">
            On the disks of the <Link to="/operator/storage-nodes">storage nodes</Link> ({o.object_storage.nodes}), every replica counted.
          </p>
        </section>
      </div>
    </>
  );
}

const CHART = { width: 360, height: 170, left: 28, bottom: 22, top: 18 };

/** A bar per state: an SVG picture (role img, with a title) and the same figures as a table. */
function StateChart({ counts }: { counts: Count[] }) {
  const plotWidth = CHART.width - CHART.left;
  const plotHeight = CHART.height - CHART.bottom - CHART.top;
  const chart = barChart(counts, plotWidth, plotHeight, { maxBarWidth: 64 });
  const summary = counts.map((c) => `${c.value} ${c.label}`).join(", ");
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${CHART.width} ${CHART.height}`} role="img" aria-label={`Instances by state: ${summary}`} width="100%">
        <title>Instances by state</title>
        <g transform={`translate(${CHART.left} ${CHART.top})`}>
          {chart.ticks.map((t) => (
            <g key={t.value}>
              <line x1={0} x2={plotWidth} y1={t.y} y2={t.y} class="grid" />
              <text x={-6} y={t.y + 4} text-anchor="end" class="tick">
                {t.value}
              </text>
            </g>
          ))}
          {chart.bars.map((b) => (
            <g key={b.label}>
              <rect x={b.x} y={b.y} width={b.width} height={b.height} class={`bar-${b.label}`} rx={2} />
              {b.value > 0 && (
                <text x={b.x + b.width / 2} y={b.y - 3} text-anchor="middle" class="value">
                  {b.value}
                </text>
              )}
              <text x={b.x + b.width / 2} y={plotHeight + 15} text-anchor="middle" class="tick">
                {b.label}
              </text>
            </g>
          ))}
        </g>
      </svg>
      <table class="sr-only">
        <caption>Instances by state</caption>
        <thead>
          <tr>
            <th scope="col">State</th>
            <th scope="col">Instances</th>
          </tr>
        </thead>
        <tbody>
          {counts.map((c) => (
            <tr key={c.label}>
              <td>{c.label}</td>
              <td>{c.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
