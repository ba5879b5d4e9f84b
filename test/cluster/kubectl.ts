// Runs the real kubectl against the integration cluster (process.env.ANVIL_KUBECONFIG,
// set by ./globalSetup.ts). Never rejects on a non-zero exit: check `code`.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
  /** Overrides process.env.ANVIL_KUBECONFIG. */
  kubeconfig?: string;
  /** Kill kubectl after this many ms (default 60 s). */
  timeoutMs?: number;
}

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

export function kubeconfigPath(): string {
  const kc = process.env.ANVIL_KUBECONFIG ?? process.env.ANVIL_TEST_KUBECONFIG;
  if (!kc) throw new Error('ANVIL_KUBECONFIG is not set: run the cluster tests with test/cluster/globalSetup.ts');
  return kc;
}

export function kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  const kubeconfig = opts.kubeconfig ?? kubeconfigPath();
  return new Promise((resolve, reject) => {
    // stdin only when there is input, and its EPIPE ignored: a kubectl that exits before
    // reading it (a refused request) fails the write; its exit code says why (it failed a test once).
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout, stderr, code: code ?? (signal ? 128 : -1) }));
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Like kubectl() but throws (with stderr) unless kubectl exits 0; returns stdout. */
export async function kubectlOk(args: string[], opts: KubectlOptions = {}): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Server URL and CA of the test cluster, from its kubeconfig. */
export async function clusterInfo(): Promise<{ server: string; ca: Buffer }> {
  const jp = (p: string) => kubectlOk(['config', 'view', '--raw', '--minify', '-o', `jsonpath={.clusters[0].cluster.${p}}`]);
  return { server: await jp('server'), ca: Buffer.from(await jp('certificate-authority-data'), 'base64') };
}

/** A kubeconfig for the test cluster that authenticates with a bearer token (e.g. a ServiceAccount's). */
export async function tokenKubeconfig(user: string, token: string): Promise<string> {
  const { server, ca } = await clusterInfo();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-token-')), 'kubeconfig');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: ${server}
    certificate-authority-data: ${ca.toString('base64')}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: c
  context: {cluster: c, user: ${user}}
current-context: c
`,
    { mode: 0o600 },
  );
  return file;
}
