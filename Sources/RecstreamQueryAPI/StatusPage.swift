/// `GET /ui`: one self-contained page (no external assets, works offline) that polls the API
/// every two seconds and shows live throughput and lag plots, partitions, dead-letter counts,
/// the top items by clicks in the last hour, and an explorer for items and users. Elements the
/// browser test checks carry `data-filled` once they hold data.
enum StatusPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>recstream</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
          header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
          header h1 { font-size: 18px; margin: 0; }
          main { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; padding: 16px 20px; }
          section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
          h2 { font-size: 15px; margin: 0 0 8px; }
          table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
          th, td { text-align: right; padding: 3px 6px; border-bottom: 1px solid #eef0f3; }
          th:first-child, td:first-child { text-align: left; }
          svg { width: 100%; height: 140px; background: #fbfcfd; border: 1px solid #eef0f3; }
          .muted { color: #6b7385; }
          .bad { color: #b42318; }
          input { font: inherit; padding: 4px 6px; width: 180px; }
          button { font: inherit; padding: 4px 10px; }
          #banner { display: none; background: #fde7e4; color: #7a1a10; padding: 10px 20px; border-bottom: 1px solid #f2b8b0; font-weight: 600; }
        </style>
        </head>
        <body>
        <header>
          <h1>recstream</h1>
          <span id="summary" class="muted">connecting…</span>
        </header>
        <div id="banner" role="alert"></div>
        <main>
          <section>
            <h2>Events applied per second</h2>
            <svg id="throughput" viewBox="0 0 400 140" preserveAspectRatio="none"></svg>
            <div class="muted" id="throughput-label"></div>
          </section>
          <section>
            <h2>Consumer lag (records)</h2>
            <svg id="lag" viewBox="0 0 400 140" preserveAspectRatio="none"></svg>
            <div class="muted" id="lag-label"></div>
          </section>
          <section>
            <h2>Partitions</h2>
            <table id="partitions"><thead><tr><th>partition</th><th>applied to</th><th>committed</th><th>end</th><th>lag</th><th>events</th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Dead-letter records by reason</h2>
            <table id="dlq"><thead><tr><th>reason</th><th>records</th></tr></thead><tbody></tbody></table>
            <h2 style="margin-top:12px">State</h2>
            <table id="state"><thead><tr><th>family</th><th>entries</th><th>bytes</th></tr></thead><tbody></tbody></table>
            <div id="loss" class="bad"></div>
          </section>
          <section>
            <h2>Top items by clicks, last hour</h2>
            <table id="top"><thead><tr><th>item</th><th>clicks</th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Explorer</h2>
            <form id="item-form"><input id="item-id" placeholder="item id"> <button>item</button></form>
            <table id="item-stats"><tbody></tbody></table>
            <div id="item-extra"></div>
            <form id="user-form" style="margin-top:12px"><input id="user-id" placeholder="user id"> <button>user</button></form>
            <div id="user-view"></div>
          </section>
        </main>
        <script>
        const history = { throughput: [], lag: [] };
        const fmt = n => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: 0 });
        const esc = s => String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
        async function getJSON(path, options) {
          const r = await fetch(path, options);
          const body = await r.json().catch(() => null);
          return { status: r.status, body };
        }
        function plot(id, values) {
          const svg = document.getElementById(id);
          const max = Math.max(1, ...values);
          const step = 400 / Math.max(1, values.length - 1);
          const points = values.map((v, i) => `${(i * step).toFixed(1)},${(135 - v / max * 125).toFixed(1)}`).join(" ");
          svg.innerHTML = `<polyline fill="none" stroke="#2f6fde" stroke-width="2" points="${points}"/>` +
            `<text x="4" y="14" font-size="11" fill="#6b7385">max ${fmt(max)}</text>`;
          svg.dataset.points = values.length;
          if (values.length >= 2) svg.dataset.filled = "true";
        }
        function fill(id, rows) {
          const table = document.getElementById(id);
          table.querySelector("tbody").innerHTML = rows.map(r => "<tr>" + r.map(c => `<td>${c}</td>`).join("") + "</tr>").join("");
          if (rows.length > 0) table.dataset.filled = "true";
        }
        async function refresh() {
          try {
            const { body: s } = await getJSON("/v1/status");
            // A partition whose end offset is not known has lag null: the total is then unknown, never 0.
            const lag = s.total_lag;
            const alerts = [];
            if (s.stalled) alerts.push(`Commits stalled: none completed for ${fmt(s.seconds_since_last_commit)} s` + (s.last_commit_error ? ` (last error: ${esc(s.last_commit_error)})` : ""));
            if (!s.consuming) alerts.push("Ingest is not consuming");
            for (const [stage, parts] of Object.entries(s.unowned_partitions || {})) alerts.push(`No live instance of the group owns ${esc(stage)}-stage partitions ${parts.join(", ")}: nobody consumes them (this instance's lag does not cover them)`);
            if (s.undeliverable_records > 0) alerts.push(`${fmt(s.undeliverable_records)} refused records could not be written to the dead-letter topic (recstream admin undeliverable)`);
            if (s.data_loss.length > 0) alerts.push(`Data loss detected on ${s.data_loss.length} occasion(s); see below`);
            const banner = document.getElementById("banner");
            banner.innerHTML = alerts.join("<br>");
            banner.style.display = alerts.length ? "block" : "none";
            document.getElementById("summary").textContent =
              `${s.version} · group ${s.group_id} · ${s.consuming ? "consuming" : "not consuming"} · ` +
              `watermark ${s.watermark_millis ? new Date(s.watermark_millis).toISOString() : "–"} · ` +
              `last commit ${s.last_commit_at_millis ? new Date(s.last_commit_at_millis).toISOString() : "–"}`;
            history.throughput.push(s.events_per_second); history.lag.push(lag === null || lag === undefined ? 0 : lag);
            for (const k of ["throughput", "lag"]) if (history[k].length > 90) history[k].shift();
            plot("throughput", history.throughput); plot("lag", history.lag);
            document.getElementById("throughput-label").textContent = `now ${fmt(s.events_per_second)}/s`;
            document.getElementById("lag-label").textContent = (lag === null || lag === undefined) ? "now unknown (some partitions not reported yet)" : `now ${fmt(lag)}`;
            fill("partitions", s.partitions.sort((a, b) => a.partition - b.partition).map(p =>
              [`${esc(p.topic)}[${p.partition}]`, fmt(p.applied_offset), fmt(p.committed_offset), fmt(p.end_offset), p.lag === null || p.lag === undefined ? "?" : fmt(p.lag), fmt(p.applied)]));
            const reasons = {};
            for (const p of s.partitions) for (const [r, n] of Object.entries(p.rejected || {})) reasons[r] = (reasons[r] || 0) + n;
            const dlqRows = Object.entries(reasons).sort((a, b) => b[1] - a[1]).map(([r, n]) => [esc(r), fmt(n)]);
            fill("dlq", dlqRows.length ? dlqRows : [["none", "0"]]);
            fill("state", s.state.map(f => [esc(f.family), fmt(f.entries), fmt(f.bytes)]));
            document.getElementById("loss").textContent = s.data_loss.map(d => `DATA LOSS p${d.partition}: ${d.message}`).join(" ");
            const { body: top } = await getJSON("/v1/items/top?type=click&window=1h&limit=10");
            fill("top", top.items.map(i => [`<a href="#" data-item="${esc(i.item_id)}">${esc(i.item_id)}</a>`, fmt(i.count)]));
          } catch (e) {
            document.getElementById("summary").textContent = "cannot reach the API: " + e;
          }
        }
        async function showItem(id) {
          document.getElementById("item-id").value = id;
          const { status, body } = await getJSON(`/v1/items/${encodeURIComponent(id)}/stats`);
          if (status !== 200) { fill("item-stats", [[esc(body && body.error ? body.error.message : "HTTP " + status)]]); return; }
          const types = ["exposure", "click", "like", "collect", "share", "comment"];
          const rows = [["window", ...types, "ctr"]].concat(["1h", "24h", "7d", "30d", "all"].map(w =>
            [w, ...types.map(t => fmt(body.windows[w].counts[t])), body.windows[w].rates.ctr.toFixed(4)]));
          fill("item-stats", rows);
          const extra = [];
          for (const method of ["itemcf", "swing"]) {
            const r = await getJSON(`/v1/items/${encodeURIComponent(id)}/similar?method=${method}&k=10`);
            if (r.status === 200 && r.body.items) extra.push(`<b>similar (${method})</b>: ` + r.body.items.map(x => esc(x.item_id)).join(", "));
          }
          const seeds = await getJSON(`/v1/items/${encodeURIComponent(id)}/seeds`);
          if (seeds.status === 200 && seeds.body.seeds) extra.push(`<b>seeds</b>: ${seeds.body.seeds.length} users`);
          document.getElementById("item-extra").innerHTML = extra.join("<br>");
        }
        async function showUser(id) {
          const parts = [];
          const h = await getJSON(`/v1/users/${encodeURIComponent(id)}/history`);
          if (h.status === 200 && h.body.items) parts.push("<b>history</b>: " + h.body.items.map(x => `${esc(x.item_id)} (${esc(x.type)})`).join(", "));
          const e = await getJSON(`/v1/users/${encodeURIComponent(id)}/exposures/summary`);
          if (e.status === 200) parts.push(`<b>exposures</b>: about ${fmt(e.body.estimated_count)} in ${e.body.slices.length} slices, ${fmt(e.body.bytes)} bytes, FPR ${(e.body.estimated_fpr * 100).toFixed(3)}%`);
          document.getElementById("user-view").innerHTML = parts.length ? parts.join("<br>") : "no per-user state for this id";
        }
        document.getElementById("item-form").addEventListener("submit", ev => { ev.preventDefault(); showItem(document.getElementById("item-id").value); });
        document.getElementById("user-form").addEventListener("submit", ev => { ev.preventDefault(); showUser(document.getElementById("user-id").value); });
        document.getElementById("top").addEventListener("click", ev => {
          const id = ev.target.dataset && ev.target.dataset.item;
          if (id) { ev.preventDefault(); showItem(id); }
        });
        (async () => {
          await refresh();
          const first = document.querySelector("#top a");
          if (first) showItem(first.dataset.item);
          setInterval(refresh, 2000);
        })();
        </script>
        </body>
        </html>
        """#
}
