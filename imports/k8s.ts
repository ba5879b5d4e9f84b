/**
 * The core Kubernetes L1 classes (KubeDeployment, KubeService, …).
 *
 * `cdk8s import k8s` downloads the schemas, which machines without network cannot do;
 * cdk8s-plus-28 ships the same generated classes, so Anvil takes them from there. Swap this
 * file for a generated one (`cdk8s import k8s@1.xx`) to target another Kubernetes version.
 */
export { k8s } from 'cdk8s-plus-28';
