/**
 * L1 classes for the anvil.dev kinds, typed by the schemas in lib/api. They are what synth
 * writes for definitions and bindings, and what the reconciler applies.
 */
import { ApiObject, type ApiObjectMetadata } from 'cdk8s';
import type { Construct } from 'constructs';
import { API_VERSION, type CapabilityBindingSpec, type GameDefinitionSpec, type ModuleManifestSpec, type WorldInstanceSpec, type WorldPoolSpec } from '../api/schema.js';

export interface AnvilObjectProps<S> {
  metadata: ApiObjectMetadata;
  spec: S;
}

/** Keys sorted and undefined dropped, so that the output does not depend on how props were written. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

abstract class AnvilApiObject<S> extends ApiObject {
  readonly spec: S;
  constructor(scope: Construct, id: string, kind: string, props: AnvilObjectProps<S>) {
    super(scope, id, { apiVersion: API_VERSION, kind, metadata: props.metadata });
    this.spec = props.spec;
  }
  override toJson(): any {
    return { ...super.toJson(), spec: canonical(this.spec) };
  }
}

export class ModuleManifestObject extends AnvilApiObject<ModuleManifestSpec> {
  constructor(scope: Construct, id: string, props: AnvilObjectProps<ModuleManifestSpec>) {
    super(scope, id, 'ModuleManifest', props);
  }
}
export class GameDefinitionObject extends AnvilApiObject<GameDefinitionSpec> {
  constructor(scope: Construct, id: string, props: AnvilObjectProps<GameDefinitionSpec>) {
    super(scope, id, 'GameDefinition', props);
  }
}
export class WorldInstanceObject extends AnvilApiObject<WorldInstanceSpec> {
  constructor(scope: Construct, id: string, props: AnvilObjectProps<WorldInstanceSpec>) {
    super(scope, id, 'WorldInstance', props);
  }
}
export class CapabilityBindingObject extends AnvilApiObject<CapabilityBindingSpec> {
  constructor(scope: Construct, id: string, props: AnvilObjectProps<CapabilityBindingSpec>) {
    super(scope, id, 'CapabilityBinding', props);
  }
}
export class WorldPoolObject extends AnvilApiObject<WorldPoolSpec> {
  constructor(scope: Construct, id: string, props: AnvilObjectProps<WorldPoolSpec>) {
    super(scope, id, 'WorldPool', props);
  }
}
