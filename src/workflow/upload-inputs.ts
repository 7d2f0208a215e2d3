// Large inputs: streamed to the relay as verified, resumable blobs when it has the `blobs`
// feature, and referred to in calc-info; an old relay gets the deployed base64 form.
import { readFileSync, statSync } from 'node:fs';
import type { CalcInfoWire, RelayClient } from '../client/relay-client.ts';
import { detectFileMime, goesAsBlob } from './build-calc-info.ts';
import type { SubmitOptions } from './submit-options.ts';

export async function uploadLargeInputs(client: RelayClient, info: CalcInfoWire, inputs: SubmitOptions['inputs'], signal: AbortSignal): Promise<void> {
  const large = inputs.filter((i) => goesAsBlob(statSync(i.path).size));
  if (large.length === 0) return;
  const { features } = await client.serverFeatures({ signal });
  // imported only here: most calcs send no large input
  const { uploadBlob } = await import('../client/blob-transfer.ts');
  for (const i of large) {
    const [mimetype1, mimetype2] = detectFileMime(i.path);
    if (features.includes('blobs')) {
      const id = await uploadBlob(client, i.path, { signal });
      info.parameter_files[i.name] = { blob: id.sha256, size: id.size, mimetype1, mimetype2 };
    } else {
      info.parameter_files[i.name] = [readFileSync(i.path).toString('base64'), mimetype1, mimetype2];
    }
  }
}
