/** `anvil diff`'s comparison of a live object with its dry-run result (the cluster part is in test/cluster/author.test.ts). */
import { expect, test } from '@jest/globals';
import { changedFields } from '../../lib/cli/diff-compare.js';
import { formatDiff } from '../../lib/cli/diff.js';

test('leaf changes by path; bookkeeping fields (resourceVersion, managedFields, status) are not changes', () => {
  const live = { metadata: { name: 'a', resourceVersion: '1', managedFields: [{}] }, spec: { replicas: 1, template: { containers: [{ image: 'x:1' }] } }, status: { ready: 1 } };
  const after = { metadata: { name: 'a', resourceVersion: '2', managedFields: [{}, {}] }, spec: { replicas: 1, template: { containers: [{ image: 'x:2' }] }, paused: true }, status: { ready: 0 } };
  expect(changedFields(live, after)).toEqual([
    { path: 'spec.paused', before: undefined, after: true },
    { path: 'spec.template.containers[0].image', before: 'x:1', after: 'x:2' },
  ]);
  expect(changedFields(live, live)).toEqual([]);
  // a list that grew is one change of the whole list
  expect(changedFields({ a: [1] }, { a: [1, 2] })).toEqual([{ path: 'a', before: [1], after: [1, 2] }]);
});

test('the report: creates, changes with their fields, refusals, and a summary', () => {
  const text = formatDiff([
    { ref: 'Service/ns/a', action: 'create', changes: [] },
    { ref: 'Deployment/ns/b', action: 'change', changes: [{ path: 'spec.replicas', before: 1, after: 2 }] },
    { ref: 'ConfigMap/ns/c', action: 'unchanged', changes: [] },
    { ref: 'Service/ns/d', action: 'error', changes: [], message: 'spec.ports[0].nodePort: Invalid value: 80' },
  ]);
  expect(text).toBe(
    ['+ Service/ns/a', '~ Deployment/ns/b', '    spec.replicas: 1 -> 2', '! Service/ns/d (spec.ports[0].nodePort: Invalid value: 80)', '1 to create, 1 to change, 1 unchanged, 1 refused', ''].join('\n'),
  );
});
