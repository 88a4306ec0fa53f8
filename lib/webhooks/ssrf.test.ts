import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, MAX_WEBHOOK_URL_LENGTH, type WebhookUrlRefusalCode } from './ssrf';

const production = { allowLoopbackHttp: false };
const development = { allowLoopbackHttp: true };

function expectAllowed(raw: string, options = production): URL {
  const result = checkWebhookUrl(raw, options);
  if (!result.ok) throw new Error(`expected ${raw} to be allowed, got ${result.code}: ${result.message}`);
  return result.url;
}

function expectRefused(raw: string, code: WebhookUrlRefusalCode, options = production): string {
  const result = checkWebhookUrl(raw, options);
  expect(result).toMatchObject({ ok: false, code });
  return result.ok ? '' : result.message;
}

describe('checkWebhookUrl: allowed URLs', () => {
  it.each([
    'https://hooks.example.com/x',
    'https://hooks.example.com:443/x',
    'https://hooks.example.com./x',
    'https://api.customer.io/v1/webhooks?token=abc#frag',
    'https://8.8.8.8/hook',
    'https://[2606:4700:4700::1111]/hook',
    'https://xn--bcher-kva.example/hook',
  ])('allows %s', (raw) => {
    expect(expectAllowed(raw)).toBeInstanceOf(URL);
  });

  it('returns the parsed, normalised URL', () => {
    const url = expectAllowed('HTTPS://Hooks.Example.COM:443/a/../b');
    expect(url.href).toBe('https://hooks.example.com/b');
  });

  it('allows the same public https URLs with the development flag on', () => {
    expect(expectAllowed('https://hooks.example.com/x', development).hostname).toBe('hooks.example.com');
  });
});

describe('checkWebhookUrl: invalid_url', () => {
  it.each(['', 'hooks.example.com/x', '/relative/path', 'https://', 'https://exa mple.com/', 'https://1.2.3.4.5/', 'https://[::1/'])('refuses %j', (raw) => {
    expectRefused(raw, 'invalid_url');
  });

  it(`refuses a URL longer than ${MAX_WEBHOOK_URL_LENGTH} characters`, () => {
    const base = 'https://hooks.example.com/';
    expectRefused(base + 'a'.repeat(MAX_WEBHOOK_URL_LENGTH - base.length + 1), 'invalid_url');
    expectAllowed(base + 'a'.repeat(MAX_WEBHOOK_URL_LENGTH - base.length));
  });
});

describe('checkWebhookUrl: scheme_not_allowed', () => {
  it.each(['ftp://hooks.example.com/', 'file:///etc/passwd', 'gopher://hooks.example.com/', 'javascript:alert(1)', 'data:text/plain,hi', 'ws://hooks.example.com/', 'wss://hooks.example.com/'])(
    'refuses %s',
    (raw) => {
      expectRefused(raw, 'scheme_not_allowed', development);
    },
  );

  it('refuses plain http to a public host, even with the development flag', () => {
    expectRefused('http://example.com/', 'scheme_not_allowed', production);
    expectRefused('http://example.com/', 'scheme_not_allowed', development);
  });

  it('refuses plain http to a private address, even with the development flag', () => {
    expectRefused('http://10.0.0.1/', 'scheme_not_allowed', development);
  });

  it.each(['http://127.0.0.1:4567/hook', 'http://localhost:4567/hook', 'http://[::1]:4567/hook'])('refuses plain http to loopback without the flag: %s', (raw) => {
    expectRefused(raw, 'scheme_not_allowed', production);
  });
});

describe('checkWebhookUrl: loopback under the development flag', () => {
  it.each(['http://127.0.0.1:4567/hook', 'http://127.8.9.10/hook', 'http://localhost:4567/hook', 'http://[::1]:4567/hook', 'https://localhost:8443/hook', 'http://2130706433:4567/'])(
    'allows %s',
    (raw) => {
      expect(expectAllowed(raw, development).protocol).toMatch(/^https?:$/);
    },
  );

  it.each([
    ['a .localhost subdomain', 'http://app.localhost:4567/'],
    ['an IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]:4567/'],
    ['a private address', 'http://192.168.1.10:4567/'],
  ])('does not treat %s as loopback', (_, raw) => {
    expectRefused(raw, 'scheme_not_allowed', development);
  });

  it('still refuses userinfo on loopback', () => {
    expectRefused('http://user:pass@127.0.0.1:4567/', 'userinfo_not_allowed', development);
  });
});

describe('checkWebhookUrl: userinfo_not_allowed', () => {
  it.each(['https://user:pass@hooks.example.com/', 'https://user@hooks.example.com/', 'https://:pass@hooks.example.com/', 'https://hooks.example.com@evil.example/'])('refuses %s', (raw) => {
    expectRefused(raw, 'userinfo_not_allowed');
  });
});

describe('checkWebhookUrl: port_not_allowed', () => {
  it.each(['https://hooks.example.com:8443/', 'https://hooks.example.com:80/', 'https://hooks.example.com:1/', 'https://8.8.8.8:8080/'])('refuses %s', (raw) => {
    expectRefused(raw, 'port_not_allowed');
  });

  it('says which port was refused', () => {
    expect(expectRefused('https://hooks.example.com:8443/', 'port_not_allowed')).toContain('8443');
  });
});

describe('checkWebhookUrl: IPv4 literals', () => {
  it.each([
    ['private 10/8', '10.0.0.1'],
    ['private 10/8, top', '10.255.255.255'],
    ['private 172.16/12, bottom', '172.16.0.1'],
    ['private 172.16/12, top', '172.31.255.255'],
    ['private 192.168/16', '192.168.1.1'],
    ['loopback', '127.0.0.1'],
    ['loopback, elsewhere in 127/8', '127.255.0.9'],
    ['unspecified', '0.0.0.0'],
    ['"this network" 0/8', '0.1.2.3'],
    ['link-local', '169.254.1.1'],
    ['CGNAT, bottom', '100.64.0.1'],
    ['CGNAT, top', '100.127.255.255'],
    ['IETF protocol assignments', '192.0.0.8'],
    ['TEST-NET-1', '192.0.2.10'],
    ['6to4 relay anycast', '192.88.99.1'],
    ['benchmarking, bottom', '198.18.0.1'],
    ['benchmarking, top', '198.19.255.255'],
    ['TEST-NET-2', '198.51.100.7'],
    ['TEST-NET-3', '203.0.113.9'],
    ['multicast', '224.0.0.251'],
    ['multicast, top', '239.255.255.250'],
    ['reserved 240/4', '240.0.0.1'],
    ['broadcast', '255.255.255.255'],
  ])('refuses %s (%s) as private_address', (_, address) => {
    expectRefused(`https://${address}/hook`, 'private_address');
  });

  it.each([
    ['just below 172.16/12', '172.15.255.255'],
    ['just above 172.16/12', '172.32.0.1'],
    ['just below CGNAT', '100.63.255.255'],
    ['just above CGNAT', '100.128.0.1'],
    ['just below benchmarking', '198.17.255.255'],
    ['just above benchmarking', '198.20.0.1'],
    ['just below multicast', '223.255.255.255'],
    ['a public resolver', '1.1.1.1'],
  ])('allows %s (%s)', (_, address) => {
    expect(expectAllowed(`https://${address}/hook`).hostname).toBe(address);
  });

  it.each([
    ['169.254.169.254', 'AWS'],
    ['169.254.170.2', 'ECS'],
    ['100.100.100.200', 'Alibaba'],
  ])('refuses the metadata service %s as metadata_address', (address, provider) => {
    expect(expectRefused(`https://${address}/latest/meta-data/`, 'metadata_address')).toContain(provider);
  });

  it.each([
    ['decimal', 'https://2130706433/'],
    ['hex with a short form', 'https://0x7f.1/'],
    ['octal', 'https://0177.0.0.1/'],
    ['two-part shorthand', 'https://127.1/'],
    ['a trailing dot', 'https://127.0.0.1./'],
    ['percent-encoded digits', 'https://%31%32%37.0.0.1/'],
  ])('refuses loopback written in %s form (normalised by the URL parser)', (_, raw) => {
    expectRefused(raw, 'private_address');
  });

  it('refuses the metadata address written as one decimal number', () => {
    expectRefused('https://2852039166/', 'metadata_address');
  });

  it('refuses 0 (which the URL parser reads as 0.0.0.0)', () => {
    expectRefused('https://0/', 'private_address');
  });
});

describe('checkWebhookUrl: IPv6 literals', () => {
  it.each([
    ['loopback', '::1'],
    ['loopback, uncompressed', '0:0:0:0:0:0:0:1'],
    ['unspecified', '::'],
    ['link-local', 'fe80::1'],
    ['link-local, top of fe80::/10', 'febf::1'],
    ['site-local', 'fec0::1'],
    ['unique-local fc00::/7 (fc)', 'fc00::1'],
    ['unique-local fc00::/7 (fd)', 'fd12:3456:789a::1'],
    ['multicast', 'ff02::1'],
    ['documentation', '2001:db8::1'],
    ['documentation 3fff::/20', '3fff:0fff::1'],
    ['Teredo', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
    ['discard-only', '100::1'],
    ['local-use NAT64', '64:ff9b:1::a'],
    ['unallocated, outside 2000::/3', '4000::1'],
  ])('refuses %s (%s) as private_address', (_, address) => {
    expectRefused(`https://[${address}]/hook`, 'private_address');
  });

  it('refuses the AWS IPv6 metadata address fd00:ec2::254 as metadata_address', () => {
    expectRefused('https://[fd00:ec2::254]/latest/meta-data/', 'metadata_address');
  });

  it.each([
    ['IPv4-mapped, dotted', '::ffff:10.0.0.1'],
    ['IPv4-mapped, hex', '::ffff:a00:1'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
    ['IPv4-compatible', '::10.0.0.1'],
    ['IPv4-compatible loopback', '::127.0.0.1'],
    ['NAT64 of a private address', '64:ff9b::10.0.0.1'],
    ['NAT64 of loopback', '64:ff9b::7f00:1'],
    ['6to4 of a private address', '2002:c0a8:101::1'],
    ['6to4 of loopback', '2002:7f00:1::'],
  ])('refuses %s (%s) as private_address, naming the embedded IPv4', (_, address) => {
    expect(expectRefused(`https://[${address}]/hook`, 'private_address')).toMatch(/\d+\.\d+\.\d+\.\d+/);
  });

  it.each(['::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe', '2002:a9fe:a9fe::'])('refuses the metadata address embedded in %s as metadata_address', (address) => {
    expectRefused(`https://[${address}]/`, 'metadata_address');
  });

  it.each([
    ['NAT64', '64:ff9b::8.8.8.8'],
    ['6to4', '2002:808:808::1'],
  ])('allows %s of a public IPv4 address (a real route to it)', (_, address) => {
    expect(expectAllowed(`https://[${address}]/`).protocol).toBe('https:');
  });

  it.each(['::ffff:8.8.8.8', '::8.8.8.8'])('refuses %s (another spelling of a public IPv4) as host_not_allowed', (address) => {
    expect(expectRefused(`https://[${address}]/`, 'host_not_allowed')).toContain('8.8.8.8');
  });

  it.each(['2606:4700::1111', '2a00:1450:4001:80b::200e', '2001:4860:4860::8888'])('allows the global unicast address %s', (address) => {
    expect(expectAllowed(`https://[${address}]/`).hostname).toBe(`[${address}]`);
  });
});

describe('checkWebhookUrl: host names', () => {
  it.each([
    ['localhost', 'https://localhost/'],
    ['localhost with a trailing dot', 'https://localhost./'],
    ['localhost in fullwidth letters', 'https://ｌｏｃａｌｈｏｓｔ/'],
    ['a .localhost subdomain', 'https://api.localhost/'],
    ['a .internal name', 'https://billing.corp.internal/'],
    ['a .local (mDNS) name', 'https://printer.local/'],
    ['a .home.arpa name', 'https://nas.home.arpa/'],
    ['a .localdomain name', 'https://box.localdomain/'],
    ['a bare single-label host', 'https://intranet/'],
    ['a single label with a trailing dot', 'https://intranet./'],
    ['a single dot', 'https://./'],
  ])('refuses %s as host_not_allowed', (_, raw) => {
    expectRefused(raw, 'host_not_allowed');
  });

  it.each(['https://metadata.google.internal/computeMetadata/v1/', 'https://METADATA.google.internal./'])('refuses %s as metadata_address', (raw) => {
    expectRefused(raw, 'metadata_address');
  });

  it.each(['https://localhost.example.com/', 'https://internal.example.com/', 'https://mylocal.dev/', 'https://notlocalhost.io/'])('allows %s (reserved words only as a suffix label count)', (raw) => {
    expect(expectAllowed(raw).protocol).toBe('https:');
  });
});

describe('checkWebhookUrl: messages', () => {
  it.each([
    ['ftp://hooks.example.com/', 'https://'],
    ['https://10.0.0.1/', 'private network'],
    ['https://169.254.169.254/', 'metadata'],
    ['https://intranet/', 'single-label'],
    ['https://[fd12::1]/', 'unique-local'],
    ['https://[::ffff:a00:1]/', 'IPv4-mapped form of 10.0.0.1'],
  ])('explains why %s is refused', (raw, phrase) => {
    const result = checkWebhookUrl(raw, production);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.message).toContain(phrase);
  });
});
