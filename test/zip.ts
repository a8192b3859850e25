import yazl from 'yazl';

/** One fixed time for every entry, so a fixture's bytes do not depend on when a test runs. */
const MTIME = new Date('2020-01-01T00:00:00Z');

/**
 * Builds a zip in memory from file name -> content (test fixtures), entries in the object's order.
 */
export function makeZip(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(files)) zip.addBuffer(Buffer.from(content), name, { mtime: MTIME });
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}
