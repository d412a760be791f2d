// Pictures of runs and models, written as PNG (`mvd plot`).
export * from './canvas.js';
export * from './charts.js';
export * from './figures.js';
