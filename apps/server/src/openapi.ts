import type { ApiErrorCode } from './errors.js';

const ERROR_CODES: ApiErrorCode[] = [
  'bad_request',
  'missing_image',
  'empty_image',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'image_too_large',
  'unsupported_media_type',
  'corrupt_image',
  'too_many_images',
  'unauthorized',
  'forbidden',
  'overloaded',
  'not_ready',
  'timeout',
  'reload_failed',
  'internal_error',
];

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: json(ref('Error')) });

const PREDICT_ERRORS = {
  '400': error('Missing, empty or malformed image, or bad `top` / `heads`'),
  '401': error('API key missing or wrong'),
  '413': error('Body, image or pixel count over the limit, or too many images'),
  '415': error('Not an image the decode step reads (sniffed from the bytes)'),
  '422': error('Truncated or corrupt image'),
  '503': error('Queue full or model not loaded; see `Retry-After`'),
  '504': error('The prediction took longer than the request timeout'),
};

const QUERY = [
  {
    name: 'top',
    in: 'query',
    description: 'Also list the k most likely labels of each head',
    schema: { type: 'integer', minimum: 1 },
  },
  {
    name: 'heads',
    in: 'query',
    description: 'Comma-separated heads to answer (default: all)',
    schema: { type: 'string' },
    example: 'color',
  },
];

const IMAGE_BODIES = {
  'multipart/form-data': {
    schema: {
      type: 'object',
      properties: { image: { type: 'array', items: { type: 'string', format: 'binary' } } },
      required: ['image'],
    },
  },
  'image/*': { schema: { type: 'string', format: 'binary' } },
  'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
  'application/json': {
    schema: {
      type: 'object',
      properties: {
        image: { type: 'string', contentEncoding: 'base64' },
        images: { type: 'array', items: { type: 'string', contentEncoding: 'base64' } },
      },
    },
  },
};

const SCHEMAS = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: ERROR_CODES },
          message: { type: 'string' },
          details: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
  LabelScore: {
    type: 'object',
    required: ['label', 'score'],
    properties: { label: { type: 'string' }, score: { type: 'number' } },
  },
  HeadPrediction: {
    type: 'object',
    description:
      'One head’s answer. A softmax head gives its most likely label; a multi-label head also ' +
      'gives its label set (`labels`) and every label’s score (`scores`), and its `label` and ' +
      '`score` are then the highest-scoring label, whether or not it reached its threshold.',
    required: ['label', 'score'],
    additionalProperties: false,
    properties: {
      label: { type: 'string' },
      score: { type: 'number', minimum: 0, maximum: 1 },
      top: {
        type: 'array',
        description: 'The k most likely labels, best first, with `?top=k`',
        items: ref('LabelScore'),
      },
      labels: {
        type: 'array',
        description:
          'Multi-label heads: every label whose score reaches its threshold, best first; may be empty',
        items: { type: 'string' },
        uniqueItems: true,
      },
      scores: {
        type: 'object',
        description: 'Multi-label heads: the sigmoid score of every label of the head',
        additionalProperties: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
    example: {
      label: 'summer',
      score: 0.91,
      labels: ['summer', 'casual'],
      scores: { casual: 0.77, formal: 0.04, summer: 0.91 },
    },
  },
  Prediction: {
    type: 'object',
    required: ['heads'],
    additionalProperties: false,
    properties: {
      heads: {
        type: 'object',
        description: 'One answer per head (only those of `?heads=`), by head name',
        additionalProperties: ref('HeadPrediction'),
      },
    },
  },
  ModelInfo: {
    type: 'object',
    required: ['heads', 'inputSize', 'preprocessing', 'backbone', 'metrics', 'createdAt'],
    properties: {
      heads: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'kind', 'labels'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            kind: { enum: ['softmax', 'multilabel'] },
            labels: { type: 'array', items: { type: 'string' } },
            thresholds: {
              type: 'array',
              description: 'Multi-label heads: the score each label needs, in `labels` order',
              items: { type: 'number' },
            },
          },
        },
      },
      inputSize: { type: 'integer' },
      preprocessing: { type: 'object' },
      backbone: { type: 'object' },
      metrics: { type: 'object', description: 'Training metrics; `val` holds the validation ones' },
      createdAt: { type: 'string', format: 'date-time' },
      versions: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
  Results: {
    type: 'object',
    required: ['results'],
    additionalProperties: false,
    properties: {
      results: {
        type: 'array',
        description: 'One entry per image, in request order: its answer or its error',
        items: {
          type: 'object',
          required: ['filename'],
          oneOf: [{ required: ['heads'] }, { required: ['error'] }],
          additionalProperties: false,
          properties: {
            filename: { type: ['string', 'null'] },
            heads: { $ref: '#/components/schemas/Prediction/properties/heads' },
            error: { $ref: '#/components/schemas/Error/properties/error' },
          },
        },
      },
    },
  },
};

/**
 * The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
 *
 * @example
 * const doc = openApiDocument();
 * console.log(Object.keys(doc.paths)); // ['/v1/predict', '/v1/predict/batch', …]
 */
export function openApiDocument(): { openapi: string; paths: Record<string, object> } & Record<
  string,
  unknown
> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'polyhead server',
      version: '1',
      description:
        'Multi-output image classification: every head of a polyhead model answers each image.',
    },
    components: {
      schemas: SCHEMAS,
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ apiKey: [] }, {}],
    paths: {
      '/v1/predict': {
        post: {
          summary: 'Predict one image (several multipart parts answer like the batch route)',
          parameters: QUERY,
          requestBody: { required: true, content: IMAGE_BODIES },
          responses: {
            '200': {
              description:
                'Every head’s label and score (and label set for multi-label heads); several ' +
                'multipart parts answer like the batch route',
              content: json({ oneOf: [ref('Prediction'), ref('Results')] }),
            },
            ...PREDICT_ERRORS,
          },
        },
      },
      '/v1/predict/batch': {
        post: {
          summary: 'Predict several images; one result or one error per image, in order',
          parameters: QUERY,
          requestBody: { required: true, content: IMAGE_BODIES },
          responses: {
            '200': { description: 'One entry per image', content: json(ref('Results')) },
            ...PREDICT_ERRORS,
          },
        },
      },
      '/v1/model': {
        get: {
          summary: 'Heads, vocabularies, input size, preprocessing, backbone and training metrics',
          responses: {
            '200': { description: 'The model', content: json(ref('ModelInfo')) },
            '503': error('Not loaded'),
          },
        },
      },
      '/v1/model/files/{name}': {
        get: {
          summary: 'The served model’s files, for TensorFlow.js in a browser',
          parameters: [
            {
              name: 'name',
              in: 'path',
              required: true,
              schema: { enum: ['model.json', 'weights.bin', 'polyhead.json'] },
            },
          ],
          responses: { '200': { description: 'The file' }, '404': error('No such file') },
        },
      },
      '/v1/admin/reload': {
        post: {
          summary: 'Swap in a model directory (default: the served one, read again)',
          requestBody: {
            required: false,
            content: json({ type: 'object', properties: { modelDir: { type: 'string' } } }),
          },
          responses: {
            '200': { description: 'The new model serves', content: json({ type: 'object' }) },
            '401': error('Admin key missing or wrong'),
            '403': error('Admin routes are off'),
            '422': error('The model failed to load; the old one keeps serving'),
          },
        },
      },
      '/healthz': {
        get: { summary: 'Alive', security: [], responses: { '200': { description: 'ok' } } },
      },
      '/readyz': {
        get: {
          summary: 'Model loaded and warmed up, not shutting down',
          security: [],
          responses: { '200': { description: 'ready' }, '503': error('Loading or shutting down') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          security: [],
          responses: {
            '200': { description: 'Prometheus text format', content: { 'text/plain': {} } },
          },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1' } },
        },
      },
    },
  };
}
