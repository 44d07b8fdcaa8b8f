import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

import YAML from 'yaml';
import { z } from 'zod';

import { RelayError } from '../errors.ts';
import { type Config, ConfigSchema } from './schema.ts';

/** Keys whose values are secrets: redacted when printed or logged, and loadable from `<key>File`. */
export const SECRET_KEYS = new Set([
  'pass',
  'password',
  'secret',
  'clientSecret',
  'token',
  'privateKey',
  'url',
]);

export const ENV_PREFIX = 'BRIDGEHEAD_';

export interface ConfigIssue {
  path: string;
  message: string;
}

export interface LoadOptions {
  /** YAML file; when absent, the embedded defaults are used. */
  file?: string | undefined;
  /** Environment to read BRIDGEHEAD_* overrides from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as a partial config; undefined entries are ignored. */
  overrides?: Record<string, unknown>;
}

/**
 * Builds the effective configuration: embedded defaults < file < BRIDGEHEAD_SECTION__KEY env
 * < flags; then reads `*File` secrets, validates everything at once and freezes the result.
 * Throws ERELAY_CONFIG_INVALID listing every problem with its path.
 */
export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  let raw: Record<string, unknown> = {};
  if (options.file) raw = readYamlFile(options.file);
  applyEnvOverrides(raw, env);
  if (options.overrides) deepMerge(raw, stripUndefined(options.overrides));

  const issues: ConfigIssue[] = [];
  resolveSecretFiles(raw, '', issues, options.file);
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      issues.push({ path: formatPath(issue.path), message: issue.message });
  } else {
    issues.push(...crossCheck(parsed.data));
  }
  if (issues.length > 0) {
    const err = new RelayError(
      'ERELAY_CONFIG_INVALID',
      `invalid configuration${options.file ? ` in ${options.file}` : ''}:\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
    (err as RelayError & { issues: ConfigIssue[] }).issues = issues;
    throw err;
  }
  return deepFreeze(withDerivedDefaults(parsed.data!));
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new RelayError(
      'ERELAY_CONFIG_READ',
      `cannot read configuration file ${file}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { prettyErrors: true });
  } catch (cause) {
    throw new RelayError(
      'ERELAY_CONFIG_READ',
      `configuration file ${file} is not valid YAML: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new RelayError(
      'ERELAY_CONFIG_READ',
      `configuration file ${file} must hold a mapping at the top level`,
    );
  return doc as Record<string, unknown>;
}

/** Rules that span several keys, reported with the path an admin must change. */
function crossCheck(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!config.routes[config.relay.defaultRoute])
    issues.push({
      path: 'relay.defaultRoute',
      message: `route "${config.relay.defaultRoute}" is not defined under routes`,
    });
  if (config.store.kind === 'postgres' && !config.store.url)
    issues.push({ path: 'store.url', message: 'kind postgres needs the connection URL (or urlFile)' });
  if (config.bounces.route && !config.routes[config.bounces.route])
    issues.push({
      path: 'bounces.route',
      message: `route "${config.bounces.route}" is not defined under routes`,
    });
  const listenerNames = new Set(config.listeners.map((l) => l.name ?? `${l.host}:${l.port}`));
  config.clients.forEach((rule, i) => {
    if (rule.route && !config.routes[rule.route])
      issues.push({
        path: `clients.${i}.route`,
        message: `route "${rule.route}" is not defined under routes`,
      });
    for (const l of rule.match.listeners ?? [])
      if (!listenerNames.has(l))
        issues.push({ path: `clients.${i}.match.listeners`, message: `no listener is named "${l}"` });
    for (const u of rule.match.users ?? [])
      if (u !== '*' && !config.users[u])
        issues.push({ path: `clients.${i}.match.users`, message: `user "${u}" is not defined under users` });
    if (rule.match.certificates && !config.listeners.some((l) => l.clientCa))
      issues.push({
        path: `clients.${i}.match.certificates`,
        message: 'certificates can only match on a listener with clientCa',
      });
  });
  if (new Set(config.clients.map((c) => c.name)).size !== config.clients.length)
    issues.push({ path: 'clients', message: 'rule names must be unique' });
  config.listeners.forEach((l, i) => {
    if (l.mode !== 'plain' && (!l.cert || !l.key))
      issues.push({ path: `listeners.${i}`, message: `mode ${l.mode} needs both cert and key` });
    if ((l.cert && !l.key) || (!l.cert && l.key))
      issues.push({ path: `listeners.${i}`, message: 'cert and key go together' });
    if (l.mode === 'plain' && l.tlsProfile !== 'modern')
      issues.push({
        path: `listeners.${i}.tlsProfile`,
        message: 'a TLS profile needs a TLS mode (starttls, implicit-tls, auto)',
      });
    if (l.mode === 'plain' && l.clientCa)
      issues.push({
        path: `listeners.${i}.clientCa`,
        message: 'client certificates need a TLS mode (starttls, implicit-tls, auto)',
      });
    if (l.mode === 'plain' && l.requireTls)
      issues.push({ path: `listeners.${i}.requireTls`, message: 'a plain listener cannot require TLS' });
  });
  config.relay.routing.forEach((rule, i) => {
    if (!config.routes[rule.route])
      issues.push({
        path: `relay.routing.${i}.route`,
        message: `route "${rule.route}" is not defined under routes`,
      });
    if (!rule.clients && !rule.senderDomains)
      issues.push({ path: `relay.routing.${i}`, message: 'a rule needs clients and/or senderDomains' });
  });
  for (const [name, route] of Object.entries(config.routes)) {
    const t = route.transport;
    if (t.kind !== 'm365') continue;
    const tenant = config.microsoft365.tenants[t.tenant];
    if (!tenant)
      issues.push({
        path: `routes.${name}.transport.tenant`,
        message: `tenant "${t.tenant}" is not defined under microsoft365.tenants`,
      });
    else if (
      (t.methods.includes('graph') || (t.methods.includes('submission') && t.submission.auth === 'oauth')) &&
      !tenant.clientSecret &&
      !tenant.certificate
    )
      issues.push({
        path: `microsoft365.tenants.${t.tenant}`,
        message: 'OAuth needs clientSecret or certificate',
      });
    if (t.methods.some((m) => m === 'direct-send' || m === 'connector') && !t.mx.host && !t.mx.domain)
      issues.push({
        path: `routes.${name}.transport.mx`,
        message: 'direct-send and connector need mx.host or mx.domain',
      });
    if (
      t.methods.length === 1 &&
      t.methods[0] === 'direct-send' &&
      tenant &&
      tenant.acceptedDomains.length === 0
    )
      issues.push({
        path: `microsoft365.tenants.${t.tenant}.acceptedDomains`,
        message: 'a direct-send route needs the accepted domains, to refuse other recipients',
      });
    if (t.methods.includes('submission') && t.submission.auth === 'basic' && !t.submission.password)
      issues.push({
        path: `routes.${name}.transport.submission.password`,
        message: 'auth basic needs the mailbox password',
      });
  }
  const seen = new Set<string>();
  config.listeners.forEach((l, i) => {
    const id = `${l.host}:${l.port}`;
    if (l.port !== 0 && seen.has(id))
      issues.push({ path: `listeners.${i}`, message: `${id} is listed twice` });
    seen.add(id);
  });
  return issues;
}

function withDerivedDefaults(config: Config): Config {
  const dataDir = resolve(config.relay.dataDir);
  return {
    ...config,
    relay: {
      ...config.relay,
      dataDir,
      hostname: config.relay.hostname ?? hostname(),
      internalDomains: config.relay.internalDomains ?? [
        ...new Set(Object.values(config.microsoft365.tenants).flatMap((t) => t.acceptedDomains)),
      ],
    },
    listeners: config.listeners.map((l) => ({ ...l, name: l.name ?? `${l.host}:${l.port}` })),
    store: { ...config.store, path: resolve(config.store.path ?? join(dataDir, 'queue.db')) },
    sandbox: { ...config.sandbox, dir: resolve(config.sandbox.dir ?? join(dataDir, 'sandbox')) },
    routes: Object.fromEntries(
      Object.entries(config.routes).map(([name, route]) => [
        name,
        route.transport.kind === 'capture'
          ? {
              ...route,
              transport: {
                ...route.transport,
                dir: resolve(route.transport.dir ?? join(dataDir, 'captured')),
              },
            }
          : route,
      ]),
    ),
  };
}

/**
 * BRIDGEHEAD_LIMITS__MAX_MESSAGE_SIZE=50MB sets limits.maxMessageSize; list items are
 * addressed by index (BRIDGEHEAD_LISTENERS__0__PORT). Values are read as YAML scalars, so
 * numbers and booleans keep their type.
 */
export function applyEnvOverrides(target: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const names = Object.keys(env)
    .filter((k) => k.startsWith(ENV_PREFIX))
    .sort();
  for (const name of names) {
    const segments = name.slice(ENV_PREFIX.length).split('__').filter(Boolean);
    if (segments.length < 2) continue; // BRIDGEHEAD_CONFIG and similar are not config keys
    let node: Record<string, unknown> | unknown[] = target;
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      const key = resolveKey(node, segment);
      if (last) {
        setChild(node, key, YAML.parse(env[name] ?? ''));
      } else {
        let child = getChild(node, key);
        if (typeof child !== 'object' || child === null) {
          child = /^\d+$/.test(segments[i + 1]!) ? [] : {};
          setChild(node, key, child);
        }
        node = child as Record<string, unknown> | unknown[];
      }
    });
  }
}

function resolveKey(node: Record<string, unknown> | unknown[], segment: string): string | number {
  if (Array.isArray(node)) return Number(segment);
  const flat = segment.replace(/_/g, '').toLowerCase();
  const existing = Object.keys(node).find((k) => k.replace(/_/g, '').toLowerCase() === flat);
  if (existing) return existing;
  const known = KNOWN_KEYS.get(flat);
  return known ?? segment.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const getChild = (node: Record<string, unknown> | unknown[], key: string | number) =>
  (node as Record<string | number, unknown>)[key];
const setChild = (node: Record<string, unknown> | unknown[], key: string | number, value: unknown) => {
  (node as Record<string | number, unknown>)[key] = value;
};

/** Every camelCase key the schema knows, by its lower-case underscore-free spelling (for env names). */
const KNOWN_KEYS: Map<string, string> = (() => {
  const out = new Map<string, string>();
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const n = node as {
      properties?: Record<string, unknown>;
      items?: unknown;
      additionalProperties?: unknown;
      oneOf?: unknown[];
    };
    for (const [k, v] of Object.entries(n.properties ?? {})) {
      out.set(k.toLowerCase(), k);
      walk(v);
    }
    walk(n.items);
    walk(n.additionalProperties);
    for (const v of n.oneOf ?? []) walk(v);
  };
  walk(configJsonSchema());
  for (const k of SECRET_KEYS) out.set(`${k.toLowerCase()}file`, `${k}File`);
  return out;
})();

/** JSON Schema of the configuration (input side), used for env key names and the docs table. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/**
 * `pass: ...` may instead be `passFile: /run/secrets/smarthost` (or the env form PASS_FILE),
 * so secrets can live in files mounted by the service manager rather than in the YAML.
 */
function resolveSecretFiles(node: unknown, path: string, issues: ConfigIssue[], configFile?: string): void {
  if (!node || typeof node !== 'object') return;
  const entries = Array.isArray(node) ? node.map((v, i) => [String(i), v] as const) : Object.entries(node);
  for (const [key, value] of entries) {
    const childPath = path ? `${path}.${key}` : key;
    const base = key.endsWith('File')
      ? key.slice(0, -4)
      : key.endsWith('_FILE')
        ? key.slice(0, -5).toLowerCase()
        : null;
    if (base && SECRET_KEYS.has(base) && !Array.isArray(node)) {
      const obj = node as Record<string, unknown>;
      delete obj[key];
      if (typeof value !== 'string') {
        issues.push({ path: childPath, message: 'expected a file path' });
        continue;
      }
      try {
        obj[base] = readFileSync(resolve(configFile ? join(configFile, '..') : '.', value), 'utf8').replace(
          /\r?\n$/,
          '',
        );
      } catch (err) {
        issues.push({
          path: childPath,
          message: `cannot read secret file ${value}: ${(err as Error).message}`,
        });
      }
      continue;
    }
    resolveSecretFiles(value, childPath, issues, configFile);
  }
}

/** A deep copy with every secret value replaced, for `config print` and logs. */
export function redactConfig<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactConfig(v)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        SECRET_KEYS.has(k) && v !== undefined
          ? '[redacted]'
          : (k === 'users' || k === 'tokens') && v && typeof v === 'object' && !Array.isArray(v)
            ? Object.fromEntries(Object.keys(v).map((u) => [u, '[redacted]']))
            : redactConfig(v),
      ]),
    ) as T;
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

function stripUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(obj)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [
        k,
        v && typeof v === 'object' && !Array.isArray(v) ? stripUndefined(v as Record<string, unknown>) : v,
      ]),
  );
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    const t = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && t && typeof t === 'object' && !Array.isArray(t))
      deepMerge(t as Record<string, unknown>, v as Record<string, unknown>);
    else target[k] = v;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
