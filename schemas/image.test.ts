import { describe, expect, it } from 'vitest';
import { ExportQuery } from './api.js';
import { ImagePrefix, imageReference, imageTag } from './image.js';
import { parseWith } from './issues.js';

describe('image names', () => {
  it('tags a revision r<revision>-<first 12 characters of the code digest>', () => {
    expect(imageTag(4, '0123456789abcdef')).toBe('r4-0123456789ab');
    expect(imageReference('ghcr.io/acme', 'hello', 4, '0123456789abcdef')).toBe('ghcr.io/acme/hello:r4-0123456789ab');
  });

  it('takes registry prefixes with a host, a port and paths, and refuses what Docker would', () => {
    for (const ok of ['glambdar', 'ghcr.io/acme', 'registry.local:5000/team/fns', 'localhost:5000/a_b', 'docker.io/library']) {
      expect(ImagePrefix.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['', 'acme/Upper', 'trailing/', '/leading', 'a//b', 'ghcr.io/acme:tag', 'a b', '-dash']) {
      expect(ImagePrefix.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('asks an export for its format by name, and defaults the image prefix to glambdar', () => {
    expect(parseWith(ExportQuery, { format: 'knative' })).toEqual({ ok: true, value: { format: 'knative', imagePrefix: 'glambdar' } });
    expect(parseWith(ExportQuery, { format: 'helm' })).toEqual({ ok: false, issues: ['format: must be one of: knative, kubernetes'] });
  });
});
