// A real, local Kubernetes control plane for the integration tests:
// etcd + kube-apiserver (RBAC, client-cert auth, service-account tokens, Pod Security
// admission) and, withNodes, kube-controller-manager + kube-scheduler + kwok with fake
// Nodes so Deployments get Ready pods. Binaries come from ./build.sh's cache.
//
// No Kubernetes client library: child_process, fs, net, https and openssl only.
//
// Env:
//   ANVIL_TEST_KUBECONFIG  use this existing cluster instead (stop() is a no-op)
//   ANVIL_CLUSTER_BIN      directory holding the five binaries (skips build.sh)
//   ANVIL_CLUSTER_CACHE    build cache root (see build.sh)
//   ANVIL_CLUSTER_KEEP=1   keep the temp folder (logs, certs) after stop()
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as https from 'node:https';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A pod whose container image contains this stays Pending and never Ready: kwok's
 * pod-ready stage skips it (and no other stage matches it). Tests use it for a module
 * version that never becomes Available (a rollout that must pause).
 */
export const HOLD_NOT_READY = 'anvil-hold-not-ready';

/** build.sh's kwok stages, with pod-ready told to skip held pods; written to `out`. */
async function kwokStages(from: string, out: string): Promise<string> {
  const text = await fsp.readFile(from, 'utf8');
  const at = text.indexOf('name: pod-ready');
  const list = at < 0 ? -1 : text.indexOf('matchExpressions:\n', at);
  if (list < 0) throw new Error(`${from}: no pod-ready stage with matchExpressions: cannot add the ${HOLD_NOT_READY} hold`);
  const lineEnd = list + 'matchExpressions:\n'.length;
  const indent = /^( *)/.exec(text.slice(lineEnd))![1];
  const hold = `${indent}- key: '.spec.containers.[] | .image | contains("${HOLD_NOT_READY}")'\n${indent}  operator: 'NotIn'\n${indent}  values:\n${indent}  - 'true'\n`;
  await fsp.writeFile(out, text.slice(0, lineEnd) + hold + text.slice(lineEnd));
  return out;
}

export interface ControlPlaneOptions {
  /** Also run controller manager, scheduler and kwok, and create fake Nodes. */
  withNodes?: boolean;
  /** Number of fake Nodes when withNodes (default 2). */
  nodes?: number;
  /** Milliseconds to wait for each component to become ready (default 120 s). */
  timeoutMs?: number;
}

export interface ControlPlane {
  /** Path of an admin kubeconfig (client cert in group system:masters). */
  kubeconfig: string;
  /** Temp folder with kubeconfig, certs, data and one log file per component. */
  dir: string;
  /** API server URL, e.g. https://127.0.0.1:PORT. */
  server: string;
  /** True when ANVIL_TEST_KUBECONFIG pointed at an existing cluster. */
  external: boolean;
  /** PEM file paths for talking to the API server directly (absent when external). */
  certs?: { ca: string; adminCert: string; adminKey: string };
  /** Log file of each started component, by name. */
  logs: Record<string, string>;
  /** Kill every started process (process group) and remove the temp folder. */
  stop(): Promise<void>;
  /**
   * The API server alone (etcd, its data and the other components stay): `kill()` SIGKILLs it
   * and waits until it is gone; `start()` starts it again on the same port, certs and etcd,
   * and waits for /readyz. For failover tests (absent when external).
   */
  apiServer?: { kill(): Promise<void>; start(): Promise<void> };
  /**
   * Stops the controller manager, scheduler and kwok (withNodes): from then on a Deployment
   * gets no pods, so worlds stay Provisioning — for counting worlds without their pods.
   */
  stopWorkloads?: () => Promise<void>;
}

const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';
const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_IP = '10.96.0.1';
const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';

// ---------------------------------------------------------------------------------------
// Binaries

const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];

/** Directory of this file's siblings: found from the cwd (Jest runs at the repo root). */
function clusterDir(): string {
  if (process.env.ANVIL_CLUSTER_DIR) return process.env.ANVIL_CLUSTER_DIR;
  let dir = process.cwd();
  for (;;) {
    const candidate = path.join(dir, 'test', 'cluster', 'build.sh');
    if (fs.existsSync(candidate)) return path.dirname(candidate);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find test/cluster/build.sh above ${process.cwd()}`);
    dir = parent;
  }
}

/**
 * Returns the directory holding etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok, running build.sh (cold: tens of minutes) when they are missing
 * or stale. Build output goes to stderr.
 */
export async function ensureBinaries(): Promise<string> {
  const explicit = process.env.ANVIL_CLUSTER_BIN;
  if (explicit) {
    for (const b of [...BINARIES, 'kwok.yaml']) {
      if (!fs.existsSync(path.join(explicit, b))) throw new Error(`ANVIL_CLUSTER_BIN=${explicit} has no ${b}`);
    }
    return explicit;
  }
  const script = path.join(clusterDir(), 'build.sh');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} failed (${signal ?? `exit ${code}`})`)),
    );
  });
  const bin = stdout.trim().split('\n').pop() ?? '';
  for (const b of [...BINARIES, 'kwok.yaml']) {
    if (!fs.existsSync(path.join(bin, b))) throw new Error(`${script} did not produce ${path.join(bin, b)}`);
  }
  return bin;
}

// ---------------------------------------------------------------------------------------
// Small helpers

function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ stdout: string; stderr: string; code: number }>((resolve, reject) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (err && code === -1) reject(err);
      else resolve({ stdout, stderr, code });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

async function runOk(cmd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** GET url; resolves with status code and body, or null on a connection error. */
function get(url: string, tls?: https.RequestOptions) {
  return new Promise<{ status: number; body: string } | null>((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...(tls ?? {}), timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

// ---------------------------------------------------------------------------------------
// Process management: every child is its own process group (detached) and killed as one.

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
  exitInfo?: string;
}

const live = new Set<Proc>();
let handlersInstalled = false;

function killGroup(p: Proc, signal: NodeJS.Signals) {
  if (p.child.pid === undefined || p.exitInfo !== undefined) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Temp folders of running control planes, removed on exit (unless ANVIL_CLUSTER_KEEP). */
const tempDirs = new Set<string>();

/** Other children (a bench's reconciler) killed with the control plane's processes: `killWithControlPlane`. */
const companions = new Set<ChildProcess>();

/**
 * Kills `child` when this process exits or is interrupted, as the control plane's own
 * processes are: a bench stopped with Ctrl-C leaves no reconciler behind.
 */
export function killWithControlPlane<C extends ChildProcess>(child: C): C {
  installHandlers();
  companions.add(child);
  child.once('exit', () => companions.delete(child));
  return child;
}

function killAllNow() {
  for (const p of live) killGroup(p, 'SIGKILL');
  live.clear();
  for (const c of companions) c.kill('SIGKILL');
  companions.clear();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      /* best effort */
    }
  }
  tempDirs.clear();
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      killAllNow();
      // Keep the default behaviour (terminate) unless someone else also handles it.
      if (process.listenerCount(sig) <= 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

function startProc(name: string, bin: string, args: string[], dir: string): Proc {
  installHandlers();
  const log = path.join(dir, `${name}.log`);
  const fd = fs.openSync(log, 'a');
  fs.writeSync(fd, `$ ${bin} ${args.join(' ')}\n`);
  const child = spawn(bin, args, {
    cwd: dir,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, HOME: dir },
  });
  fs.closeSync(fd);
  child.unref();
  const p: Proc = { name, child, log, exited: Promise.resolve() };
  p.exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      p.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
      live.delete(p);
      resolve();
    });
    child.on('error', (err) => {
      p.exitInfo = `failed to start: ${err.message}`;
      live.delete(p);
      resolve();
    });
  });
  live.add(p);
  return p;
}

async function stopProc(p: Proc, graceMs = 5000) {
  if (p.exitInfo !== undefined) return;
  killGroup(p, 'SIGTERM');
  // No timer may outlive stop(): Jest waits for open handles.
  const within = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    const ok = await Promise.race([p.exited.then(() => true), timeout]);
    clearTimeout(timer);
    return ok;
  };
  if (!(await within(graceMs))) {
    killGroup(p, 'SIGKILL');
    await within(2000);
  }
  live.delete(p);
}

function startError(p: Proc, what: string): Error {
  return new Error(
    `control plane: ${p.name} ${what}${p.exitInfo ? ` (${p.exitInfo})` : ''}; log ${p.log}:\n${tail(p.log)}`,
  );
}

/** Polls check() until it returns true; fails fast if the process dies. */
async function waitFor(p: Proc, what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.exitInfo !== undefined) throw startError(p, `died before ${what}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw startError(p, `not ${what} after ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------
// PKI with openssl (EC P-256: fast to generate, accepted by every component)

async function genKey(file: string) {
  await runOk('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
}

async function makePki(dir: string) {
  const f = (n: string) => path.join(dir, n);
  await genKey(f('ca.key'));
  await runOk('openssl', [
    'req', '-x509', '-new', '-key', f('ca.key'), '-out', f('ca.crt'), '-days', '3650',
    '-subj', '/CN=anvil-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const cert = async (name: string, subj: string, ext: string[]) => {
    await genKey(f(`${name}.key`));
    await runOk('openssl', ['req', '-new', '-key', f(`${name}.key`), '-subj', subj, '-out', f(`${name}.csr`)]);
    const extFile = f(`${name}.ext`);
    await fsp.writeFile(extFile, ext.join('\n') + '\n');
    await runOk('openssl', [
      'x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
      // A random serial per cert (no shared ca.srl: the certs are signed in parallel).
      '-set_serial', `0x${(randomBytes(1)[0] & 0x7f).toString(16).padStart(2, '0')}${randomBytes(15).toString('hex')}`,
      '-days', '3650', '-out', f(`${name}.crt`), '-extfile', extFile,
    ]);
  };
  const client = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth'];
  await Promise.all([
    cert('apiserver', '/CN=kube-apiserver', [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=IP:127.0.0.1,IP:${SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,` +
        'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
    ]),
    cert('admin', '/O=system:masters/CN=anvil-admin', client),
    cert('kube-controller-manager', '/CN=system:kube-controller-manager', client),
    cert('kube-scheduler', '/CN=system:kube-scheduler', client),
    // kwok updates node/pod status and leases for many objects: give it admin rights.
    cert('kwok', '/O=system:masters/CN=kwok', client),
    genKey(f('sa.key')),
  ]);
  await runOk('openssl', ['pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')]);
}

async function writeKubeconfig(file: string, server: string, dir: string, user: string) {
  const b64 = async (n: string) => (await fsp.readFile(path.join(dir, n))).toString('base64');
  const yaml = `apiVersion: v1
kind: Config
clusters:
- name: anvil
  cluster:
    server: ${server}
    certificate-authority-data: ${await b64('ca.crt')}
users:
- name: ${user}
  user:
    client-certificate-data: ${await b64(`${user}.crt`)}
    client-key-data: ${await b64(`${user}.key`)}
contexts:
- name: anvil
  context:
    cluster: anvil
    user: ${user}
current-context: anvil
`;
  await fsp.writeFile(file, yaml, { mode: 0o600 });
}

export function nodeManifest(i: number): string {
  const name = `kwok-node-${i}`;
  const zone = `zone-${String.fromCharCode(97 + (i % 3))}`;
  return `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations:
    ${KWOK_ANNOTATION}: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: ${name}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/worker: ""
    topology.kubernetes.io/region: anvil
    topology.kubernetes.io/zone: ${zone}
status:
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
`;
}

// ---------------------------------------------------------------------------------------

function externalControlPlane(kubeconfig: string): ControlPlane {
  const text = fs.readFileSync(kubeconfig, 'utf8');
  const server = /^\s*server:\s*(\S+)/m.exec(text)?.[1] ?? '';
  return {
    kubeconfig,
    dir: path.dirname(kubeconfig),
    server,
    external: true,
    logs: {},
    stop: async () => {},
  };
}

/**
 * Starts a fresh control plane in a new temp folder. Throws an Error naming the component
 * (with the tail of its log) if anything fails to come up; everything started is stopped
 * before the error is thrown.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const existing = process.env.ANVIL_TEST_KUBECONFIG;
  if (existing) return externalControlPlane(existing);

  const withNodes = opts.withNodes ?? false;
  const nodeCount = opts.nodes ?? 2;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const bin = await ensureBinaries();
  const b = (n: string) => path.join(bin, n);

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'anvil-cp-'));
  const f = (n: string) => path.join(dir, n);
  const procs: Proc[] = [];
  const logs: Record<string, string> = {};
  const keep = !!process.env.ANVIL_CLUSTER_KEEP;
  if (!keep) tempDirs.add(dir);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Reverse start order: kwok, scheduler, controller manager, apiserver, etcd.
    for (const p of [...procs].reverse()) await stopProc(p);
    tempDirs.delete(dir);
    if (!keep) await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  const start = (name: string, args: string[]) => {
    const p = startProc(name, b(name), args, dir);
    procs.push(p);
    logs[name] = p.log;
    return p;
  };

  try {
    await makePki(dir);
    const ca = await fsp.readFile(f('ca.crt'));
    const tlsAdmin = { ca, cert: await fsp.readFile(f('admin.crt')), key: await fsp.readFile(f('admin.key')) };
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort] = await freePorts(6);

    // etcd
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = start('etcd', [
      '--name=anvil',
      `--data-dir=${f('etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=anvil=http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync',
      '--quota-backend-bytes=4294967296',
      '--log-level=warn',
    ]);
    await waitFor(etcd, 'healthy', timeoutMs, async () => {
      const r = await get(`${etcdUrl}/health`);
      return r?.status === 200 && r.body.includes('"health":"true"');
    });

    // kube-apiserver
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--cert-dir=${f('apiserver-certs')}`,
      `--tls-cert-file=${f('apiserver.crt')}`,
      `--tls-private-key-file=${f('apiserver.key')}`,
      `--client-ca-file=${f('ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      `--service-account-issuer=${SA_ISSUER}`,
      `--service-account-key-file=${f('sa.pub')}`,
      `--service-account-signing-key-file=${f('sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=true',
      '--profiling=false',
      // Without a controller manager nobody creates the "default" ServiceAccounts.
      ...(withNodes ? [] : ['--disable-admission-plugins=ServiceAccount']),
    ];
    let apiserver = start('kube-apiserver', apiserverArgs);
    await waitFor(apiserver, 'ready (/readyz)', timeoutMs, async () => (await get(`${server}/readyz`, tlsAdmin))?.status === 200);
    const apiServer = {
      kill: async () => {
        killGroup(apiserver, 'SIGKILL');
        await apiserver.exited;
      },
      start: async () => {
        if (apiserver.exitInfo === undefined) throw new Error('control plane: kube-apiserver is still running');
        apiserver = start('kube-apiserver', apiserverArgs); // appends to the same log
        await waitFor(apiserver, 'ready (/readyz) after a restart', timeoutMs, async () => (await get(`${server}/readyz`, tlsAdmin))?.status === 200);
      },
    };

    const kubeconfig = f('kubeconfig');
    await writeKubeconfig(kubeconfig, server, dir, 'admin');
    const kubectl = (args: string[], input?: string) =>
      runOk(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', kubeconfig, ...args], { input });

    if (withNodes) {
      for (const n of ['kube-controller-manager', 'kube-scheduler', 'kwok']) {
        await writeKubeconfig(f(`${n}.kubeconfig`), server, dir, n);
      }
      const kcm = start('kube-controller-manager', [
        `--kubeconfig=${f('kube-controller-manager.kubeconfig')}`,
        `--authentication-kubeconfig=${f('kube-controller-manager.kubeconfig')}`,
        `--authorization-kubeconfig=${f('kube-controller-manager.kubeconfig')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${f('kcm-certs')}`,
        '--leader-elect=false',
        '--use-service-account-credentials',
        '--controllers=*',
        `--root-ca-file=${f('ca.crt')}`,
        `--service-account-private-key-file=${f('sa.key')}`,
        `--cluster-signing-cert-file=${f('ca.crt')}`,
        `--cluster-signing-key-file=${f('ca.key')}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allocate-node-cidrs=false',
        '--concurrent-gc-syncs=5',
        // Upstream defaults (20 requests/s, 5 workers) are sized for shared production API
        // servers; on this private loopback control plane they throttle Deployment→Pod and
        // would measure the controller manager's rate limiter instead of Anvil (npm run bench).
        '--kube-api-qps=200',
        '--kube-api-burst=400',
        '--concurrent-deployment-syncs=25',
        '--concurrent-replicaset-syncs=25',
      ]);
      const sched = start('kube-scheduler', [
        `--kubeconfig=${f('kube-scheduler.kubeconfig')}`,
        `--authentication-kubeconfig=${f('kube-scheduler.kubeconfig')}`,
        `--authorization-kubeconfig=${f('kube-scheduler.kubeconfig')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        `--cert-dir=${f('scheduler-certs')}`,
        '--leader-elect=false',
        '--kube-api-qps=200',
        '--kube-api-burst=400',
      ]);
      const kwok = start('kwok', [
        `--kubeconfig=${f('kwok.kubeconfig')}`,
        `--config=${await kwokStages(b('kwok.yaml'), f('kwok-stages.yaml'))}`, // build.sh's stages, with the hold below
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
        `--server-address=127.0.0.1:${kwokPort}`,
        '--node-ip=127.0.0.1',
        '--cidr=10.244.0.1/16',
        '--node-lease-duration-seconds=40',
      ]);
      // Their serving certs are self-signed (in --cert-dir); /healthz is open to anonymous.
      const insecure: https.RequestOptions = { rejectUnauthorized: false };
      await waitFor(kcm, 'healthy (/healthz)', timeoutMs, async () =>
        (await get(`https://127.0.0.1:${kcmPort}/healthz`, insecure))?.status === 200);
      await waitFor(sched, 'healthy (/healthz)', timeoutMs, async () =>
        (await get(`https://127.0.0.1:${schedPort}/healthz`, insecure))?.status === 200);
      await waitFor(kwok, 'healthy (/healthz)', timeoutMs, async () =>
        (await get(`http://127.0.0.1:${kwokPort}/healthz`))?.status === 200);

      await kubectl(['create', '-f', '-'], Array.from({ length: nodeCount }, (_, i) => nodeManifest(i)).join('---\n'));
      // Nodes Ready (kwok) and untainted (node lifecycle controller): pods can be scheduled.
      await waitFor(kwok, `making ${nodeCount} nodes Ready`, timeoutMs, async () => {
        const out = await kubectl([
          'get', 'nodes', '-o',
          'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}/{.spec.taints[*].key}{"\\n"}{end}',
        ]);
        const rows = out.split('\n').filter(Boolean);
        return rows.length === nodeCount && rows.every((r) => r === 'True/');
      });
      // The token/service-account controllers work: "default" ServiceAccount exists.
      await waitFor(kcm, 'creating ServiceAccount default/default', timeoutMs, async () => {
        await kubectl(['get', 'serviceaccount', 'default', '-n', 'default']);
        return true;
      });
    }

    return {
      kubeconfig,
      dir,
      server,
      external: false,
      certs: { ca: f('ca.crt'), adminCert: f('admin.crt'), adminKey: f('admin.key') },
      logs,
      stop,
      apiServer,
      stopWorkloads: async () => {
        for (const p of procs.filter((x) => ['kwok', 'kube-scheduler', 'kube-controller-manager'].includes(x.name))) await stopProc(p);
      },
    };
  } catch (err) {
    // Keep the folder (logs) on failure; stop every process.
    stopped = true;
    tempDirs.delete(dir);
    for (const p of [...procs].reverse()) await stopProc(p, 2000);
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${msg.startsWith('control plane:') ? msg : `control plane: ${msg}`}\n(files kept in ${dir})`, {
      cause: err,
    });
  }
}
