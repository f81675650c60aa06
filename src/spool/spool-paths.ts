// Where each thing lives in a spool directory (the layout is in spool.ts).
import path from 'node:path';

export function queueDirOf(dir: string): string {
  return path.join(dir, 'queue');
}

export class SpoolPaths {
  readonly dir: string;
  readonly queueDir: string;
  readonly tmpDir: string;
  readonly segmentsDir: string;
  readonly controlDir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.queueDir = queueDirOf(dir);
    this.tmpDir = path.join(dir, 'tmp');
    this.segmentsDir = path.join(dir, 'segments');
    this.controlDir = path.join(dir, 'control');
  }

  /** queue/<id>.msg: a message with a file of its own. */
  msgFile(id: string): string {
    return path.join(this.queueDir, `${id}.msg`);
  }

  /** queue/<id>.state: its recipient journal. */
  stateFile(id: string): string {
    return path.join(this.queueDir, `${id}.state`);
  }

  /** queue/<id>.held: the message is held (held-messages.ts). */
  heldFile(id: string): string {
    return path.join(this.queueDir, `${id}.held`);
  }

  /** tmp/<id>.msg: a message file being written. */
  tmpFile(id: string): string {
    return path.join(this.tmpDir, `${id}.msg`);
  }
}
