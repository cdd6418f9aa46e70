import { describe, expect, it } from 'vitest';

import { DataError } from './errors.js';
import { formatProblem, problemsError } from './problems.js';

describe('problemsError', () => {
  it('should keep a single problem on one line when only one is found', () => {
    const problems = [{ file: 'labels.csv', line: 3, reason: 'expected 3 columns, found 2' }];
    const error = problemsError('DATA_BAD_MANIFEST', 'labels.csv cannot be used as a manifest', problems);

    expect(error).toBeInstanceOf(DataError);
    expect(error.code).toBe('DATA_BAD_MANIFEST');
    expect(error.message).toBe('labels.csv cannot be used as a manifest: labels.csv:3: expected 3 columns, found 2');
    expect(error.details).toEqual({ problems, count: 1 });
  });

  it('should list one problem per line under a count when several are found', () => {
    const problems = [
      { file: 'photos/red', reason: 'folder "red" splits into 1 part(s)' },
      { file: 'labels.csv', line: 7, reason: 'image "a.png" not found' },
    ];
    const error = problemsError('DATA_BAD_FOLDER', 'photos cannot be used', problems);

    expect(error.message.split('\n')).toEqual([
      'photos cannot be used (2 problems):',
      '  photos/red: folder "red" splits into 1 part(s)',
      '  labels.csv:7: image "a.png" not found',
    ]);
    expect(formatProblem(problems[1]!)).toBe('labels.csv:7: image "a.png" not found');
  });
});
