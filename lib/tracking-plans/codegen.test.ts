import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrackingPlan } from '../../schema/tracking-plan';
import { generateTypedClient } from './codegen';
import configApiFixture from './fixtures/config-api-v7.json';
import publicApiFixture from './fixtures/public-api.json';
import typewriterFixture from './fixtures/typewriter-v8.json';
import { importSegmentPlan } from './segment-import';

const ODD_NAME = '42_--terrible=="event\'++name~!3';
const awkwardPlan: TrackingPlan = {
  name: 'Awkward names',
  events: [
    { name: 'Order Completed', version: 1, rules: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, metadata: {} },
    { name: 'order_completed', version: 1, rules: { type: 'object', properties: { count: { type: 'integer' } } }, metadata: {} },
    { name: 'Track', version: 1, rules: { type: 'object' }, metadata: {} },
    { name: 'Record', version: 1, rules: true, metadata: {} },
    { name: 'Nothing Allowed', version: 1, rules: { type: 'object', additionalProperties: false }, metadata: {} },
    { name: ODD_NAME, version: 1, rules: { type: 'object', properties: { 'regex property': { enum: ['Lawyer Morty', 'Evil Morty'] } } }, metadata: {} },
    {
      name: 'Tricky Docs',
      version: 1,
      description: 'Ends a comment early: */ and spans\ntwo lines',
      rules: { type: 'object', properties: { tags: { type: 'array', items: { type: ['string', 'null'] } }, pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }], additionalItems: false } } },
      metadata: { propertyAnnotations: { '/properties/tags': { description: 'Also */ here' } } },
    },
  ],
};

const plans = {
  publicApi: importSegmentPlan(publicApiFixture).plan,
  configApi: importSegmentPlan(configApiFixture).plan,
  typewriter: importSegmentPlan(typewriterFixture).plan,
  awkward: awkwardPlan,
};

/** Files go under the repo's node_modules/.cache, so the usage files can import the real SDK types. */
const repoRoot = new URL('../../', import.meta.url).pathname;
const directory = `${repoRoot}node_modules/.cache/monfri-codegen-test`;
const run = crypto.randomUUID().slice(0, 8);
const written: string[] = [];

function write(name: string, text: string): string {
  for (const folder of [`${repoRoot}node_modules/.cache`, directory]) if (!ts.sys.directoryExists(folder)) ts.sys.createDirectory(folder);
  const path = `${directory}/${run}-${name}.ts`;
  ts.sys.writeFile(path, text);
  written.push(path);
  return path;
}

afterAll(() => {
  for (const path of written) ts.sys.deleteFile?.(path);
});

const usageHeader = (generated: string) => `import type { MonfriApi } from '../../../sdk/src/client';
import { createTrackingPlanClient, type OrderCompletedV2, type TrackingPlanEventName } from './${run}-${generated}';
declare const monfri: MonfriApi;
const tracking = createTrackingPlanClient(monfri);
`;

const CORRECT_USAGE = `${usageHeader('public-api')}
const viaFunction = createTrackingPlanClient(monfri.track);
const viaPlainFunction = createTrackingPlanClient((event: string, properties?: Record<string, unknown>) => console.log(event, properties));

tracking.orderCompleted({
  order_id: 'ord_9f3k2m1x',
  currency: 'EUR',
  coupon: null,
  products: [{ product_id: 'p-1', price: 25, quantity: 2 }],
  shipping: { method: 'express', address: { country: 'DE' } },
  campaign: 'summer',
});
viaFunction.productViewed({ product_id: 'p-1', category: null, tags: ['cotton'] });
viaPlainFunction.track('Checkout Step Viewed', { checkout_id: 'c-1', step: 2, payment_method: null });
tracking.productsSearched({ query: 'shoes', filters: [{ field: 'brand', values: ['acme'] }, { field: 'price', min: 10 }], page: 1 });
tracking.signedUp({ method: 'google' });
tracking.track('Signed Up', { method: 'apple', marketing_opt_in: false });
const v2: OrderCompletedV2 = { order_id: 'ord_9f3k2m1x', products: [], subtotal: 10 };
const names: TrackingPlanEventName[] = ['Order Completed', 'Products Searched'];
export { v2, names };
`;

/** Each misuse in its own file, with what the compiler must say about it. */
const MISUSES: Record<string, { code: string; says: RegExp }> = {
  'wrong-type': { code: `tracking.orderCompleted({ order_id: 42, products: [] });`, says: /Type 'number' is not assignable to type 'string'/ },
  'wrong-nested-type': { code: `tracking.orderCompleted({ order_id: 'o', products: [{ product_id: 'p', price: '10' }] });`, says: /Type 'string' is not assignable to type 'number'/ },
  'missing-required': { code: `tracking.checkoutStepViewed({ checkout_id: 'c-1' });`, says: /Property 'step' is missing/ },
  'missing-required-nested': { code: `tracking.orderCompleted({ order_id: 'o', products: [{ product_id: 'p' }] });`, says: /Property 'price' is missing/ },
  'unknown-event-method': { code: `tracking.orderShipped({});`, says: /Property 'orderShipped' does not exist/ },
  'unknown-event-name': { code: `tracking.track('Order Shipped', {});`, says: /'"Order Shipped"' is not assignable to parameter of type 'keyof TrackingPlanEvents'/ },
  'not-in-enum': { code: `tracking.orderCompleted({ order_id: 'o', products: [], currency: 'JPY' });`, says: /Type '"JPY"' is not assignable to type '"USD" \| "EUR" \| "GBP"/ },
  'null-not-allowed': { code: `tracking.productViewed({ product_id: null });`, says: /Type 'null' is not assignable to type 'string'/ },
  'closed-object': { code: `tracking.checkoutStepViewed({ checkout_id: 'c', step: 1, coupon: 'x' });`, says: /Object literal may only specify known properties, and 'coupon' does not exist/ },
  'oneof-branch': { code: `tracking.productsSearched({ query: 'q', filters: [{ field: 'brand' }] });`, says: /Property 'values' is missing/ },
  'properties-of-another-event': { code: `tracking.track('Signed Up', { checkout_id: 'c', step: 1 });`, says: /Property 'method' is missing/ },
};

function diagnosticsOf(program: ts.Program, path: string): string[] {
  const file = program.getSourceFile(path);
  if (!file) throw new Error(`not in the program: ${path}`);
  return ts.getPreEmitDiagnostics(program, file).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
}

describe('generateTypedClient', () => {
  const generated = Object.fromEntries(Object.entries(plans).map(([name, plan]) => [name, write(name === 'publicApi' ? 'public-api' : name, generateTypedClient(plan))]));
  const awkwardUsage = write(
    'awkward-usage',
    `import { createTrackingPlanClient } from './${run}-awkward';
const tracking = createTrackingPlanClient({ track: (event: string) => console.log(event) });
tracking.orderCompleted({ id: 'a' });
tracking.orderCompleted2({ count: 1 });
tracking.trackEvent();
tracking.record({ anything: [1] });
tracking.event42TerribleEventName3({ 'regex property': 'Evil Morty' });
tracking.track(${JSON.stringify(ODD_NAME)}, {});
tracking.trickyDocs({ tags: ['a', null], pair: ['x', 1] });
tracking.nothingAllowed({});
`,
  );
  const closedEmptyMisuse = write(
    'awkward-misuse',
    `import { createTrackingPlanClient } from './${run}-awkward';
createTrackingPlanClient(() => undefined).nothingAllowed({ sneaky: 1 });
`,
  );
  const correct = write('correct-usage', CORRECT_USAGE);
  const misuses = Object.entries(MISUSES).map(([name, misuse]) => ({ name, ...misuse, path: write(`misuse-${name}`, `${usageHeader('public-api')}${misuse.code}\n`) }));

  const program = ts.createProgram({
    rootNames: [...Object.values(generated), awkwardUsage, closedEmptyMisuse, correct, ...misuses.map((misuse) => misuse.path)],
    options: {
      strict: true,
      noEmit: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: true,
    },
  });

  it.each(Object.keys(plans))('generates a module for the %s plan that compiles on its own', (name) => {
    expect(diagnosticsOf(program, generated[name] as string)).toEqual([]);
  });

  it('compiles correct use with the script-tag global, the ESM SDK, a bare function, and by name', () => {
    expect(diagnosticsOf(program, correct)).toEqual([]);
  });

  it('gives colliding, reserved and unreadable event names distinct readable methods', () => {
    expect(diagnosticsOf(program, awkwardUsage)).toEqual([]);
  });

  it('allows no property at all on a closed object without properties', () => {
    expect(diagnosticsOf(program, closedEmptyMisuse).join('\n')).toMatch(/Type 'number' is not assignable to type 'never'/);
  });

  it.each(Object.keys(MISUSES))('rejects misuse: %s', (name) => {
    const misuse = misuses.find((candidate) => candidate.name === name);
    if (!misuse) throw new Error(name);
    const errors = diagnosticsOf(program, misuse.path);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(misuse.says);
  });

  it('documents events and properties, and marks deprecated versions', () => {
    const code = generateTypedClient(plans.publicApi);
    expect(code).toContain('/** Unique order id: ord_ and at least 8 lowercase letters or digits. */\n  order_id: string;');
    expect(code).toMatch(/@deprecated since 2024-06-01T00:00:00\.000Z\n \*\/\nexport type OrderCompleted = /);
    expect(code).toContain('export type OrderCompletedV2 = ');
    expect(code).toContain(`send("Order Completed", properties);`);
    expect(generateTypedClient(awkwardPlan)).toContain('Ends a comment early: *\\/ and spans\n * two lines');
  });
});
