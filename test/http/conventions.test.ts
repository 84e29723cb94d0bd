import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCustomer, newPhone, registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { expectProblem } from '../helpers/problems.js';

/** CONTRACT section 2 (conventions) and section 10 (/openapi.json, /docs). */

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Requests that answer different ways: success, a problem, an unknown route. */
const PROBES = [
  { label: 'a 200 (GET /health)', url: '/health', status: 200 },
  { label: 'a 401 problem (GET /api/v1/customers)', url: '/api/v1/customers', status: 401 },
  { label: 'a 404 problem (unknown route)', url: '/api/v1/no-such-thing', status: 404 },
];

describe('X-Request-Id', () => {
  const accepted = [
    ['a short token', 'abc'],
    ['a uuid', '1b4e28ba-2fa1-11d2-883f-0016d3cca427'],
    ['every allowed character', 'Az09._:-'],
    ['128 characters', 'r'.repeat(128)],
    ['a single character', 'x'],
  ];

  describe.each(PROBES)('on $label', ({ url, status }) => {
    it.each(accepted)('echoes a client X-Request-Id that is %s', async (_what, id) => {
      const res = await t.app.inject({ url, headers: { 'x-request-id': id } });
      expect(res.statusCode).toBe(status);
      expect(res.headers['x-request-id']).toBe(id);
      if (status >= 400) expect(res.json()).toMatchObject({ requestId: id });
    });

    it.each(accepted)('uses a client X-Correlation-Id that is %s', async (_what, id) => {
      const res = await t.app.inject({ url, headers: { 'x-correlation-id': id } });
      expect(res.headers['x-request-id']).toBe(id);
      if (status >= 400) expect(res.json()).toMatchObject({ requestId: id });
    });

    it.each([
      ['129 characters', 'r'.repeat(129)],
      ['a space', 'abc def'],
      ['markup', '<script>alert(1)</script>'],
      ['a quote and a brace', 'a"}b'],
      ['unicode letters', 'ünïcödé'],
      ['an emoji', 'id-\u{1F600}'],
      ['a slash', 'a/b'],
      ['a percent-encoded newline', 'a%0Ab'],
    ])('replaces a client id with %s by a fresh UUID', async (_what, id) => {
      for (const header of ['x-request-id', 'x-correlation-id']) {
        const res = await t.app.inject({ url, headers: { [header]: id } });
        expect(res.statusCode).toBe(status);
        const given = res.headers['x-request-id'];
        expect(given).toMatch(UUID);
        expect(given).not.toBe(id);
        if (status >= 400) expect(res.json()).toMatchObject({ requestId: given });
      }
    });

    it('makes a new UUID for each request without an id', async () => {
      const a = await t.app.inject({ url });
      const b = await t.app.inject({ url });
      expect(a.headers['x-request-id']).toMatch(UUID);
      expect(b.headers['x-request-id']).toMatch(UUID);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });
  });

  it('carries the id of an authenticated request into its problem body', async () => {
    const owner = await registerOrg(t.app, 'ReqId');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: { ...owner.auth, 'x-request-id': 'trace:42' },
      payload: { name: 'X', phone: 'nope' },
    });
    expect(res.headers['x-request-id']).toBe('trace:42');
    expectProblem(res, 400, 'validation_failed');
  });
});

describe('unknown routes', () => {
  it.each([
    ['GET', '/nope'],
    ['GET', '/api/v1/nope'],
    ['GET', '/api/v2/customers'],
    ['GET', '/API/V1/CUSTOMERS'],
    ['POST', '/api/v1/customers/x/y'],
    ['DELETE', '/api/v1/customers'],
    ['GET', '/..%2f..%2fetc%2fpasswd'],
  ] as const)('%s %s answers 404 problem+json not_found', async (method, url) => {
    const res = await t.app.inject({ method, url });
    expectProblem(res, 404, 'not_found');
  });
});

describe('malformed URLs', () => {
  it.each([
    ['a bad percent-escape in a path parameter', '/api/v1/customers/%zz'],
    ['a truncated UTF-8 escape', '/api/v1/customers/%E0%A4%A'],
    ['a lone percent sign', '/%'],
    ['an over-long path parameter', `/api/v1/customers/${'a'.repeat(300)}`],
  ])('answers %s with a problem carrying the request id', async (_what, url) => {
    const owner = await registerOrg(t.app, 'Url');
    const res = await t.app.inject({ url, headers: { ...owner.auth, 'x-request-id': 'bad-url' } });
    expect([400, 404]).toContain(res.statusCode);
    expect(res.headers['x-request-id']).toBe('bad-url');
    expectProblem(res, res.statusCode, res.statusCode === 400 ? 'validation_failed' : 'not_found');
  });
});

describe('status codes of a resource', () => {
  it('POST answers 201 with the resource and DELETE answers 204 with no body', async () => {
    const owner = await registerOrg(t.app, 'Status');
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: owner.auth,
      payload: { name: 'Created', phone: newPhone() },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers['content-type']).toMatch(/^application\/json/);
    expect(created.json().id).toMatch(UUID);

    const c = await createCustomer(t.app, owner);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/customers/${c.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect(del.rawPayload.length).toBe(0);
  });
});

type Json = Record<string, unknown>;

/** Follows a local `#/...` JSON pointer. */
function resolveRef(doc: Json, ref: string): unknown {
  expect(ref.startsWith('#/'), `external $ref ${ref}`).toBe(true);
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);
}

/** A schema with its $refs (and allOf) inlined, deep enough for assertions. */
function deref(doc: Json, node: unknown, depth = 0): unknown {
  if (depth > 20 || node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map((n) => deref(doc, n, depth + 1));
  const o = node as Json;
  if (typeof o.$ref === 'string') {
    const target = resolveRef(doc, o.$ref);
    expect(target, `dangling $ref ${o.$ref}`).toBeDefined();
    return deref(doc, target, depth + 1);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, deref(doc, v, depth + 1)]));
}

/** Every object schema inside a schema (through allOf/anyOf/oneOf/properties/items). */
function objectSchemas(node: unknown, out: Json[] = []): Json[] {
  if (node === null || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    for (const n of node) objectSchemas(n, out);
    return out;
  }
  const o = node as Json;
  if (o.type === 'object' || o.properties) out.push(o);
  for (const v of Object.values(o)) objectSchemas(v, out);
  return out;
}

/** Every property name (recursively) of a schema. */
const propertyNames = (schema: unknown) =>
  objectSchemas(schema).flatMap((o) => Object.keys((o.properties as Json | undefined) ?? {}));

describe('/openapi.json', () => {
  let doc: Json;
  beforeAll(async () => {
    const res = await t.app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = JSON.parse(res.body) as Json;
  });

  const paths = () => doc.paths as Record<string, Record<string, Json>>;
  const bodySchema = (path: string, method: string) => {
    const op = paths()[path]?.[method];
    expect(op, `${method.toUpperCase()} ${path} is documented`).toBeDefined();
    const body = deref(doc, op!.requestBody) as Json | undefined;
    const schema = (body?.content as Record<string, Json> | undefined)?.['application/json']
      ?.schema;
    expect(schema, `${method.toUpperCase()} ${path} documents its JSON body`).toBeDefined();
    return deref(doc, schema) as Json;
  };

  it('is an OpenAPI 3.x document whose operations all have responses and whose $refs resolve', () => {
    expect(String(doc.openapi)).toMatch(/^3\.\d+\.\d+$/);
    const info = doc.info as Json;
    expect(typeof info.title).toBe('string');
    expect(typeof info.version).toBe('string');
    const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
    expect(Object.keys(paths()).length).toBeGreaterThan(0);
    for (const [path, item] of Object.entries(paths())) {
      expect(path.startsWith('/')).toBe(true);
      expect(path, 'paths use {param}, not :param').not.toMatch(/:/);
      for (const [method, op] of Object.entries(item)) {
        if (!methods.has(method)) continue;
        expect(op.responses, `${method} ${path} has responses`).toBeTypeOf('object');
        for (const p of (op.parameters as Json[] | undefined) ?? []) {
          if (p.in === 'path') expect(path).toContain(`{${String(p.name)}}`);
        }
      }
    }
    deref(doc, doc); // throws on a dangling $ref
  });

  it.each([
    ['/api/v1/customers', 'get'],
    ['/api/v1/customers', 'post'],
    ['/api/v1/customers/{id}', 'get'],
    ['/api/v1/customers/{id}', 'patch'],
    ['/api/v1/customers/{id}', 'delete'],
    ['/api/v1/auth/login', 'post'],
    ['/api/v1/auth/register', 'post'],
  ])('documents %s %s', (path, method) => {
    expect(paths()[path]?.[method], `${method} ${path}`).toBeDefined();
  });

  it('documents the request bodies from the schemas that validate them', () => {
    const create = bodySchema('/api/v1/customers', 'post');
    expect(create.type).toBe('object');
    expect(create.required).toEqual(expect.arrayContaining(['name', 'phone']));
    expect(Object.keys(create.properties as Json)).toEqual(
      expect.arrayContaining(['name', 'phone', 'email', 'tags', 'notes']),
    );
    // Unknown keys are refused, and the document says so.
    expect(create.additionalProperties).toBe(false);
    const phone = (create.properties as Record<string, Json>).phone!;
    expect(phone.pattern).toBeDefined();

    const patch = bodySchema('/api/v1/customers/{id}', 'patch');
    expect(patch.additionalProperties).toBe(false);

    const login = bodySchema('/api/v1/auth/login', 'post');
    expect(login.required).toEqual(expect.arrayContaining(['email', 'password']));
    expect(login.additionalProperties).toBe(false);
  });

  it('never exposes password hashes or organization ids in a response schema', () => {
    const leaked = /^(password_?hash|organization_?id|org_?id)$/i;
    for (const [path, item] of Object.entries(paths())) {
      for (const [method, op] of Object.entries(item)) {
        const responses = deref(doc, op.responses);
        for (const name of propertyNames(responses)) {
          expect(leaked.test(name), `${method} ${path} response has ${name}`).toBe(false);
        }
        const request = deref(doc, op.requestBody);
        for (const name of propertyNames(request)) {
          expect(leaked.test(name), `${method} ${path} request accepts ${name}`).toBe(false);
        }
      }
    }
    expect(JSON.stringify(doc)).not.toMatch(/password_?hash/i);
  });
});

describe('/docs', () => {
  it('answers 200 HTML (after any redirect)', async () => {
    let url = '/docs';
    let res = await t.app.inject({ url });
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 5; hops++) {
      const location = String(res.headers.location);
      url = new URL(location, `http://localhost${url}`).pathname;
      res = await t.app.inject({ url });
    }
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<html/i);
  });
});
