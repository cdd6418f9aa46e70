import { tf } from '@polyhead/model';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prefix of every metric the server defines (process and Node.js metrics keep their own). */
export const METRIC_PREFIX = 'polyhead_';

/** What the metrics read from the rest of the server when scraped. */
export interface MetricsSources {
  /** Images waiting for a forward pass. */
  queueDepth: () => number;
}

/** The server's Prometheus metrics, in a registry of their own. */
export interface ServerMetrics {
  registry: Registry;
  /** Counts requests and times them by route, method and status. */
  middleware: MiddlewareHandler;
  /** Records one forward pass. */
  observeBatch(size: number, seconds: number): void;
  /** Counts one decoded image; `ok` false for one the decode step refused. */
  countDecoded(ok: boolean): void;
  /** Counts one model load or reload. */
  countReload(ok: boolean): void;
}

/**
 * Creates the metrics `GET /metrics` exposes: requests by route and status, a
 * latency histogram, forward-pass sizes, queue depth, decoded images, the live
 * tensor count, and the default process metrics (resident memory, heap, event
 * loop lag…).
 *
 * @example
 * const metrics = createMetrics({ queueDepth: () => batcher.depth });
 * app.use(metrics.middleware);
 * app.get('/metrics', async (c) => c.text(await metrics.registry.metrics()));
 */
export function createMetrics(sources: MetricsSources): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: `${METRIC_PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: `${METRIC_PREFIX}http_request_duration_seconds`,
    help: 'Time from the request to its answer, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: `${METRIC_PREFIX}batch_size`,
    help: 'Images per forward pass',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: `${METRIC_PREFIX}batch_duration_seconds`,
    help: 'Time of one forward pass',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  new Gauge({
    name: `${METRIC_PREFIX}queue_depth`,
    help: 'Images waiting for a forward pass',
    registers: [registry],
    collect() {
      this.set(sources.queueDepth());
    },
  });
  const decoded = new Counter({
    name: `${METRIC_PREFIX}images_decoded_total`,
    help: 'Images through the decode step, by result (ok or refused)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: `${METRIC_PREFIX}tensors`,
    help: 'Live TensorFlow.js tensors',
    registers: [registry],
    collect() {
      this.set(tf.memory().numTensors);
    },
  });
  const reloads = new Counter({
    name: `${METRIC_PREFIX}model_loads_total`,
    help: 'Model loads and reloads, by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });

  const middleware: MiddlewareHandler = async (c, next) => {
    const end = latency.startTimer();
    try {
      await next();
    } finally {
      // The matched route, never the raw path, keeps label values few.
      const matched = routePath(c, -1);
      const route = matched === '' || matched === '/*' || matched === '*' ? 'unmatched' : matched;
      const { method } = c.req;
      end({ route, method });
      requests.inc({ route, method, status: String(c.res.status) });
    }
  };

  return {
    registry,
    middleware,
    observeBatch(size, seconds) {
      batchSize.observe(size);
      batchSeconds.observe(seconds);
    },
    countDecoded(ok) {
      decoded.inc({ result: ok ? 'ok' : 'refused' });
    },
    countReload(ok) {
      reloads.inc({ result: ok ? 'ok' : 'failed' });
    },
  };
}
