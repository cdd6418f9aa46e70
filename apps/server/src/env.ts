import type { RequestIdVariables } from 'hono/request-id';

/** Values the middleware and routes share through the request context. */
export interface AppEnv {
  Variables: RequestIdVariables & {
    /** Largest forward pass the request's images took part in. */
    batchSize?: number;
    /** Images the request carried. */
    images?: number;
    /** The error code answered, for the request log. */
    errorCode?: string;
  };
}
