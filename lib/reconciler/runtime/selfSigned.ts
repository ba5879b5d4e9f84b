/**
 * A self-signed serving certificate (issue 20: the allocation endpoint when no TLS Secret is
 * given), made with @peculiar/x509 (no hand-written ASN.1) on node's WebCrypto: a CA that
 * exists only to sign one serving certificate, and that serving certificate for the given
 * DNS names and IP addresses. The CA's private key is never kept: nothing else can ever be
 * signed with it, so publishing the CA lets clients trust exactly this one certificate.
 * ECDSA P-256 keys (fast to make, what TLS 1.3 and node accept everywhere).
 */
import { webcrypto } from 'node:crypto';

export interface ServingCert {
  /** PEM: the serving certificate, its private key (PKCS#8), and the CA that signed it. */
  cert: string;
  key: string;
  ca: string;
}

export interface ServingCertRequest {
  /** The subject's common name and the CA's (the CA's is `${commonName} CA`). */
  commonName: string;
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  /** How long both are valid. */
  validDays: number;
  now?: Date;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
/** Valid from an hour back: a client whose clock is a little behind still accepts it. */
const SKEW_MS = 3_600_000;

/**
 * The library is loaded on first use: it needs the reflect-metadata polyfill (its
 * dependency injection container, tsyringe, requires one), which changes the global
 * `Reflect`; only a reconciler that makes a certificate pays for it.
 */
async function x509Lib() {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as never);
  return x509;
}

const serial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');

export async function makeServingCert(req: ServingCertRequest): Promise<ServingCert> {
  const x509 = await x509Lib();
  const now = req.now ?? new Date();
  const notBefore = new Date(now.getTime() - SKEW_MS);
  const notAfter = new Date(now.getTime() + req.validDays * DAY);
  const caKeys = await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify']);
  const caName = `CN=${req.commonName} CA`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey as never),
    ],
  });
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const names = [...req.dnsNames.map((value) => ({ type: 'dns' as const, value })), ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${req.commonName}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), ca: ca.toString('pem') };
}
