export * from './fixtures.js';
export * from './pixels.js';
