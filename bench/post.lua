-- wrk script for the ingest benchmark: POST /v1/orders with a realistic
-- order of about 1 KB that shopbus accepts (payment.amount_minor equals the
-- items + shipping + tax - discount), with a unique order_id per request
-- (thread id, random prefix, counter) so no request is a duplicate.
-- The key comes from SHOPBUS_BENCH_KEY. done() prints one line of JSON,
-- prefixed BENCHJSON, that the harness parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local prefix
local counter = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["X-API-Key"] = os.getenv("SHOPBUS_BENCH_KEY") or "",
}

-- Items: 2x950 + 1x2490 + 3x690 + 2x320 + 1x1590 = 8690; shipping 990,
-- tax 1738, discount 500: amount 10918. Keep in step with order.go.
local template = '{"order_id":"%s",'
  .. '"customer":{"email":"buyer+%s@example.com","name":"Jeanne Dupont-Lefebvre"},'
  .. '"items":['
  .. '{"sku":"BENCH-MUG-WHT","name":"Ceramic mug, white, 350 ml","quantity":2,"unit_price_minor":950},'
  .. '{"sku":"BENCH-TEE-BLK-M","name":"Organic cotton T-shirt, black, size M","quantity":1,"unit_price_minor":2490},'
  .. '{"sku":"BENCH-NB-A5","name":"Dotted notebook A5, 120 pages, recycled paper","quantity":3,"unit_price_minor":690},'
  .. '{"sku":"BENCH-PEN-BLU","name":"Gel pen, blue ink, 0.5 mm","quantity":2,"unit_price_minor":320},'
  .. '{"sku":"BENCH-TOTE-NAT","name":"Canvas tote bag, natural, printed logo","quantity":1,"unit_price_minor":1590}'
  .. '],'
  .. '"currency":"EUR",'
  .. '"shipping_address":{"line1":"12 Rue de Rivoli, Batiment B, 3e etage","city":"Paris","postal_code":"75001","country":"FR"},'
  .. '"shipping_minor":990,"tax_minor":1738,"discount_minor":500,'
  .. '"payment":{"method":"card","reference":"ch_%s","amount_minor":10918}}'

function init(args)
  local f = io.open("/dev/urandom", "rb")
  local seed = os.time()
  if f then
    local b = f:read(4)
    f:close()
    seed = b:byte(1) + b:byte(2) * 256 + b:byte(3) * 65536 + b:byte(4) * 16777216
  end
  math.randomseed(seed)
  prefix = string.format("wrk-%d-%08x-", tid or 0, math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local id = prefix .. counter
  return wrk.format("POST", "/v1/orders", headers, string.format(template, id, id, id))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,'
      .. '"max_us":%.0f,"mean_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
