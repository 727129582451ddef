// k6, open loop: the constant-arrival-rate executor starts RATE iterations per second whether or
// not earlier ones finished, on up to MAX_VUS VUs (one connection each). An iteration that finds
// no free VU is *dropped* (counted in dropped_iterations, never sent). http_req_duration runs
// from when the request was actually sent. The summary is written as JSON to SUMMARY.
import http from 'k6/http';

const body = open(__ENV.BODY_FILE);
const params = { headers: { 'Content-Type': 'application/json' } };

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)', 'p(99.9)'],
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE),
      timeUnit: '1s',
      duration: __ENV.DURATION,
      preAllocatedVUs: Number(__ENV.VUS),
      maxVUs: Number(__ENV.MAX_VUS),
      gracefulStop: '5s',
    },
  },
};

export default function () {
  http.post(__ENV.URL, body, params);
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
