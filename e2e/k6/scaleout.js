// The classic acceptance test of a scale-out service, as k6 runs it:
// 200 requests a second, mixed GET and POST, for 2 minutes, against a
// function that starts at zero instances. Every request takes the handler
// 20-50 ms, so the platform has to wake the function and scale it out
// while the load is already arriving. run.sh sets TARGET and HOST.
//
//   p95 < 300 ms and fewer than 3% failures (wake's should be 0%).
import http from 'k6/http';
import { check } from 'k6';

const target = __ENV.TARGET || 'http://127.0.0.1:8080';
const host = __ENV.HOST || 'scaleout.default.localhost';
const rate = parseInt(__ENV.RATE || '200', 10);
const duration = __ENV.DURATION || '2m';

export const options = {
  scenarios: {
    scaleout: {
      executor: 'constant-arrival-rate',
      rate: rate,
      timeUnit: '1s',
      duration: duration,
      // 200 rps x ~35 ms is ~7 in flight; the headroom covers the cold
      // start, when the first requests are held until an instance is ready
      // (too few pre-allocated VUs show as dropped_iterations).
      preAllocatedVUs: 100,
      maxVUs: 400,
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<300'],
    http_req_failed: ['rate<0.03'],
    checks: ['rate>0.97'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

const params = { headers: { Host: host }, timeout: '30s' };
const postParams = { headers: { Host: host, 'Content-Type': 'application/json' }, timeout: '30s' };

// A small body: testfn's /echo copies it back, and net/http's server
// cuts bodies over 512 bytes short when the handler writes while reading.
function body() {
  return JSON.stringify({ id: `${__VU}-${__ITER}`, at: Date.now(), pad: 'x'.repeat(128) });
}

export default function () {
  const ms = 20 + Math.floor(Math.random() * 31); // 20..50 ms of work
  const r = Math.random();
  if (r < 0.6) {
    const res = http.get(`${target}/sleep?ms=${ms}`, Object.assign({ tags: { kind: 'get' } }, params));
    check(res, { 'GET 200': (res) => res.status === 200 });
  } else if (r < 0.9) {
    const res = http.post(`${target}/sleep?ms=${ms}`, body(), Object.assign({ tags: { kind: 'post' } }, postParams));
    check(res, { 'POST 200': (res) => res.status === 200 });
  } else {
    const b = body();
    const res = http.post(`${target}/echo`, b, Object.assign({ tags: { kind: 'echo' } }, postParams));
    check(res, { 'POST echo 200 and same body': (res) => res.status === 200 && res.body === b });
  }
}
