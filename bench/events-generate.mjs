// Causes outbound events at a steady rate: each POST /v1/admin/organizations commits one organization.created event.
// usage: node events-generate.mjs <base url> <admin key> <count> <events per second (0: as fast as 32 clients go)>
// Prints "<count> events in <seconds> s (<rate>/s), <errors> errors".
const [base, admin, countArg, rateArg] = process.argv.slice(2);
const count = Number(countArg), rate = Number(rateArg);
const clients = 32;
let next = 0, errors = 0;
const started = performance.now();

async function client() {
  for (;;) {
    const i = next++;
    if (i >= count) return;
    if (rate > 0) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    try {
      const res = await fetch(`${base}/v1/admin/organizations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench-${i}` }),
      });
      if (res.status !== 201 && res.status !== 200) errors++;
      await res.arrayBuffer();
    } catch {
      errors++;
    }
  }
}

await Promise.all(Array.from({ length: clients }, client));
const seconds = (performance.now() - started) / 1000;
console.log(`${count} events in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)}/s), ${errors} errors`);
process.exit(errors > 0 ? 1 : 0);
