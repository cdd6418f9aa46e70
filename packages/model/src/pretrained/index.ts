export * from './registry.js';
export * from './download.js';
export * from './load.js';
