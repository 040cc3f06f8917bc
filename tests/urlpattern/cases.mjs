// Cases for the URL Pattern differential test: hand-written ones grouped by syntax feature, plus
// generated ones (a seeded PRNG composes patterns from per-component vocabularies, together with
// inputs built to match them and inputs drawn from a pool of URLs). A case is
// { feature, pattern, base, input, inputBase }: new URLPattern(pattern, base).test(input, inputBase).

const HUB = 'https://localhost/.well-known/mercure';
const MERCURE_DEFAULT = 'http://mercure.invalid';

// [pattern, base, [inputs...]] per feature; inputs are tested against the same base.
const HAND = {
  'mercure conformance and clients': [
    ['https://example.net/foo/:random', null, ['https://example.net/foo/R4', 'https://example.net/foo/will-not-match', 'https://example.net/bar/x', 'https://example.net/foo/a/b']],
    ['https://example.net/bar/:var', null, ['https://example.net/foo/will-not-match', 'https://example.net/bar/1']],
    ['/.well-known/mercure/subscriptions/:match_type/https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room{/:subscriber}?', HUB,
      ['https://localhost/.well-known/mercure/subscriptions/exact/https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room',
        'https://localhost/.well-known/mercure/subscriptions/exact/https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room/urn:uuid:1',
        '/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room/x',
        'https://localhost/.well-known/mercure/subscriptions/exact/https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-other']],
    ['/authors/:id', HUB, ['/authors/1', 'https://localhost/authors/2', 'https://other/authors/3', '/authors/1/books']],
    ['/authors/:id', MERCURE_DEFAULT, ['/authors/1', 'https://localhost/authors/2', 'authors/3']],
    ['https://laravel.alt/echo/channel/:name', null, ['https://laravel.alt/echo/channel/private-orders.1', 'https://laravel.alt/echo/channel/a/b']],
    ['foo', HUB, ['foo', '/.well-known/foo', 'https://localhost/.well-known/foo', 'bar']],
    ['https://example.com/books/:id', null, ['https://example.com/books/1?x=y#z', 'https://example.com:8443/books/1', 'https://u:p@example.com/books/1']],
    ['https://example.com/{selector}', null, ['https://example.com/selector', 'https://example.com/%7Bselector%7D', 'https://example.com/x']],
    ['https://example.com/books/{id}', null, ['https://example.com/books/id', 'https://example.com/books/1']],
  ],
  'named groups': [
    ['https://e.com/:a', null, ['https://e.com/x', 'https://e.com/', 'https://e.com/x/y', 'https://e.com/x.y']],
    ['https://e.com/:a/:b', null, ['https://e.com/x/y', 'https://e.com/x', 'https://e.com/x/y/z']],
    ['https://e.com/:a.:b', null, ['https://e.com/x.y', 'https://e.com/x', 'https://e.com/x.y.z']],
    ['https://e.com/:a-:b', null, ['https://e.com/x-y', 'https://e.com/x-y-z', 'https://e.com/xy']],
    ['https://e.com/:café', null, ['https://e.com/x']],
    ['https://e.com/:$a_1', null, ['https://e.com/x']],
    ['https://e.com/:1a', null, ['https://e.com/x']],
    ['https://e.com/:a\u200Db', null, ['https://e.com/x']],
    ['https://:sub.e.com/', null, ['https://www.e.com/', 'https://e.com/', 'https://a.b.e.com/']],
    ['https://e.com/:a:b', null, ['https://e.com/xy']],
    ['https://e.com/:a:b:c', null, ['https://e.com/xyz']],
    [':proto://e.com/', null, ['https://e.com/', 'foo://e.com/']],
  ],
  'wildcards': [
    ['https://e.com/*', null, ['https://e.com/', 'https://e.com/a/b/c', 'http://e.com/a']],
    ['https://e.com/*/x', null, ['https://e.com/a/x', 'https://e.com/a/b/x', 'https://e.com/x']],
    ['https://*.e.com', null, ['https://a.e.com/', 'https://e.com/', 'https://a.b.e.com/x']],
    ['*://*/*', null, ['https://a/b', 'foo:bar', 'mailto:x@y', 'file:///etc']],
    ['https://e.com/**', null, ['https://e.com/a']],
    ['https://e.com/*?', null, ['https://e.com/', 'https://e.com']],
    ['https://e.com/a*b', null, ['https://e.com/ab', 'https://e.com/axxb', 'https://e.com/a/b']],
    ['https://e.com/\\*', null, ['https://e.com/*', 'https://e.com/a']],
    ['https://e.com/(.*)', null, ['https://e.com/a/b']],
    ['https://e.com/*.html', null, ['https://e.com/index.html', 'https://e.com/a/b.html', 'https://e.com/a.htm']],
  ],
  'modifiers': [
    ['https://e.com/a/:x?', null, ['https://e.com/a', 'https://e.com/a/', 'https://e.com/a/b', 'https://e.com/a/b/c']],
    ['https://e.com/a/:x*', null, ['https://e.com/a', 'https://e.com/a/b/c', 'https://e.com/a/']],
    ['https://e.com/a/:x+', null, ['https://e.com/a', 'https://e.com/a/b/c']],
    ['https://e.com/a/*+', null, ['https://e.com/a', 'https://e.com/a/b']],
    ['https://e.com/a/(\\d+)*', null, ['https://e.com/a/1/2', 'https://e.com/a', 'https://e.com/a/x']],
    ['https://e.com/a?', null, ['https://e.com/a', 'https://e.com/']],
    ['https://e.com/ab+', null, ['https://e.com/ab', 'https://e.com/abb']],
    ['https://e.com/:x?:y?', null, ['https://e.com/', 'https://e.com/a']],
    ['https://e.com/:x??', null, ['https://e.com/']],
  ],
  'groups {}': [
    ['https://e.com/a{/b}?', null, ['https://e.com/a', 'https://e.com/a/b', 'https://e.com/a/c']],
    ['https://e.com/a{/b}*', null, ['https://e.com/a/b/b', 'https://e.com/a']],
    ['https://e.com/a{/b}+', null, ['https://e.com/a', 'https://e.com/a/b/b']],
    ['https://e.com/a{/:x}*', null, ['https://e.com/a', 'https://e.com/a/1/2/3']],
    ['https://e.com/{a:x}', null, ['https://e.com/a1', 'https://e.com/ax']],
    ['https://e.com/{:x.}?html', null, ['https://e.com/a.html', 'https://e.com/html']],
    ['https://e.com/{a{b}}', null, ['https://e.com/ab']],
    ['https://e.com/{a', null, ['https://e.com/a']],
    ['https://e.com/a}', null, ['https://e.com/a']],
    ['https://e.com/{}', null, ['https://e.com/']],
    ['https://e.com/{}?', null, ['https://e.com/']],
    ['https://{www.}?e.com/', null, ['https://e.com/', 'https://www.e.com/', 'https://w.e.com/']],
    ['http{s}?://e.com/', null, ['http://e.com/', 'https://e.com/', 'ftp://e.com/']],
    ['https://e.com/{(\\d+)}?', null, ['https://e.com/', 'https://e.com/1']],
  ],
  'regexp groups': [
    ['https://e.com/(\\d+)', null, ['https://e.com/12', 'https://e.com/1a']],
    ['https://e.com/:id(\\d+)', null, ['https://e.com/12', 'https://e.com/x']],
    ['https://e.com/(foo|bar)', null, ['https://e.com/foo', 'https://e.com/baz']],
    ['https://e.com/([a-z]+)', null, ['https://e.com/abc', 'https://e.com/ABC']],
    ['https://e.com/([^/]+?)', null, ['https://e.com/abc', 'https://e.com/a/b']],
    ['https://e.com/([^\\/]+?)', null, ['https://e.com/abc', 'https://e.com/a/b']],
    ['(https?)://e.com/', null, ['http://e.com/', 'ftp://e.com/']],
    ['https://e.com/(a(?:b|c))', null, ['https://e.com/ab', 'https://e.com/ad']],
    ['https://e.com/(a(b))', null, ['https://e.com/ab']],
    ['https://e.com/((?=a)a)', null, ['https://e.com/a']],
    ['https://e.com/(a(?!b).)', null, ['https://e.com/ac', 'https://e.com/ab']],
    ['https://e.com/((?<=a)b)', null, ['https://e.com/b']],
    ['https://e.com/(?a)', null, ['https://e.com/a']],
    ['https://e.com/(', null, ['https://e.com/']],
    ['https://e.com/()', null, ['https://e.com/']],
    ['https://e.com/(a', null, ['https://e.com/a']],
    ['https://e.com/(\\)', null, ['https://e.com/']],
    ['https://e.com/(\u00e9)', null, ['https://e.com/']],
    ['https://e.com/(a**)', null, ['https://e.com/a']],
    ['https://e.com/(a{2})', null, ['https://e.com/aa', 'https://e.com/a']],
    ['https://e.com/(a{2,})', null, ['https://e.com/aaa']],
    ['https://e.com/(a{2,3}?)', null, ['https://e.com/aa']],
    ['https://e.com/(a{3,2})', null, ['https://e.com/aa']],
    ['https://e.com/(a{)', null, ['https://e.com/a']],
    ['https://e.com/(a})', null, ['https://e.com/a']],
    ['https://e.com/(])', null, ['https://e.com/a']],
    ['https://e.com/([a&&b])', null, ['https://e.com/a']],
    ['https://e.com/([\\w--a])', null, ['https://e.com/b']],
    ['https://e.com/([[a-z]])', null, ['https://e.com/b']],
    ['https://e.com/([a-])', null, ['https://e.com/a']],
    ['https://e.com/([(])', null, ['https://e.com/a']],
    ['https://e.com/([\\(])', null, ['https://e.com/(']],
    ['https://e.com/([])', null, ['https://e.com/a']],
    ['https://e.com/([^])', null, ['https://e.com/a']],
    ['https://e.com/(\\p{L}+)', null, ['https://e.com/abc', 'https://e.com/1']],
    ['https://e.com/(\\p{Letter}+)', null, ['https://e.com/abc']],
    ['https://e.com/(\\p{Script=Latin}+)', null, ['https://e.com/abc']],
    ['https://e.com/(\\p{RGI_Emoji})', null, ['https://e.com/abc']],
    ['https://e.com/(\\q{a})', null, ['https://e.com/a']],
    ['https://e.com/(\\a)', null, ['https://e.com/a']],
    ['https://e.com/(\\-)', null, ['https://e.com/-']],
    ['https://e.com/(\\/)', null, ['https://e.com/%2F']],
    ['https://e.com/(\\x41)', null, ['https://e.com/A']],
    ['https://e.com/(\\u0041)', null, ['https://e.com/A']],
    ['https://e.com/(\\u{41})', null, ['https://e.com/A']],
    ['https://e.com/(\\cA)', null, ['https://e.com/A']],
    ['https://e.com/(\\0)', null, ['https://e.com/A']],
    ['https://e.com/(\\01)', null, ['https://e.com/A']],
    ['https://e.com/(\\1)', null, ['https://e.com/']],
    ['https://e.com/(a)/(\\1)', null, ['https://e.com/a/a']],
    ['https://e.com/((?<x>a)\\k<x>)', null, ['https://e.com/aa', 'https://e.com/ab']],
    ['https://e.com/((?i:a)b)', null, ['https://e.com/Ab', 'https://e.com/AB']],
    ['https://e.com/(a|)', null, ['https://e.com/', 'https://e.com/a']],
    ['https://e.com/(^a$)', null, ['https://e.com/a']],
    ['https://e.com/(\\bx)', null, ['https://e.com/x']],
    ['https://e.com/(a\\b*)', null, ['https://e.com/a']],
    ['https://e.com/(.)', null, ['https://e.com/a', 'https://e.com/ab']],
    ['https://e.com/(\\s)', null, ['https://e.com/%20']],
    ['https://e.com/(\\v)', null, ['https://e.com/v']],
  ],
  'escaping': [
    ['https://e.com/a\\:b', null, ['https://e.com/a:b']],
    ['https://e.com/\\{a\\}', null, ['https://e.com/%7Ba%7D', 'https://e.com/{a}']],
    ['https://e.com/a\\+', null, ['https://e.com/a+']],
    ['https://e.com/a\\?b', null, ['https://e.com/a?b', 'https://e.com/a']],
    ['https://e.com/p\\?a=1', null, ['https://e.com/p?a=1', 'https://e.com/p?a=2']],
    ['https://e.com/\\(a\\)', null, ['https://e.com/(a)']],
    ['https://e.com/a\\\\b', null, ['https://e.com/a\\b', 'https://e.com/a/b']],
    ['https://e.com/a\\', null, ['https://e.com/a']],
    ['https://e.com/\\#x', null, ['https://e.com/#x']],
    ['https\\://e.com/', null, ['https://e.com/']],
  ],
  'protocol': [
    ['HTTPS://e.com/', null, ['https://e.com/']],
    ['http://e.com/', null, ['HTTP://E.COM/']],
    ['git+ssh://e.com/x', null, ['git+ssh://e.com/x']],
    ['1http://e.com/', null, ['http://e.com/']],
    ['ht tp://e.com/', null, ['http://e.com/']],
    ['file:///etc/:f', null, ['file:///etc/passwd', 'file://localhost/etc/x']],
    ['mailto\\:x', null, ['mailto:x']],
    ['data\\:text/plain,*', null, ['data:text/plain,hi']],
    ['foo:bar', null, ['foo:bar', 'foo:baz']],
    ['foo://h/p', null, ['foo://h/p', 'foo://H/p']],
    ['urn\\:uuid\\:*', null, ['urn:uuid:1234']],
  ],
  'username and password': [
    ['https://user:pass@e.com/', null, ['https://user:pass@e.com/', 'https://e.com/', 'https://user@e.com/']],
    ['https://:u@e.com/', null, ['https://x@e.com/']],
    ['https://*:*@e.com/', null, ['https://a:b@e.com/', 'https://e.com/']],
    ['https://us%20er@e.com/', null, ['https://us er@e.com/']],
    ['https://caf\u00e9@e.com/', null, ['https://caf%C3%A9@e.com/']],
    ['https://u\\@x@e.com/', null, ['https://u%40x@e.com/']],
  ],
  'hostname': [
    ['https://EXAMPLE.com/', null, ['https://example.com/']],
    ['https://caf\u00e9.com/', null, ['https://xn--caf-dma.com/', 'https://caf\u00e9.com/']],
    ['https://xn--caf-dma.com/', null, ['https://caf\u00e9.com/']],
    ['https://127.0.0.1/', null, ['https://127.1/', 'https://0x7f.0.0.1/', 'https://2130706433/']],
    ['https://127.1/', null, ['https://127.0.0.1/']],
    ['https://[::1]/', null, ['https://[0:0::1]/', 'https://[::2]/']],
    ['https://[2001:DB8::1]:8080/', null, ['https://[2001:db8::1]:8080/']],
    ['https://[:x]/', null, ['https://[::1]/']],
    ['https://[::1/', null, ['https://[::1]/']],
    ['https://a b.com/', null, ['https://a b.com/']],
    ['https://a%20b.com/', null, ['https://a%20b.com/']],
    ['https://ex%41mple.com/', null, ['https://example.com/']],
    ['https://e.com.', null, ['https://e.com./', 'https://e.com/']],
    ['https://a..b/', null, ['https://a..b/']],
    ['https://999.999.999.999/', null, ['https://1.1.1.1/']],
    ['https://1.2.3.4.5/', null, ['https://1.2.3.4.5/']],
    ['https://0x.0/', null, ['https://0.0.0.0/']],
    ['foo://EXAMPLE.com/', null, ['foo://EXAMPLE.com/', 'foo://example.com/']],
    ['https://e\\.com/', null, ['https://e.com/']],
    ['https://*/', null, ['https://anything/', 'https://[::1]/']],
    ['https://:a.:b/', null, ['https://x.y/', 'https://x/']],
    ['https://\u2603.com/', null, ['https://xn--n3h.com/']],
    ['https://\u00DF.de/', null, ['https://xn--zca.de/', 'https://ss.de/']],
    ['https://e.com:/', null, ['https://e.com/']],
  ],
  'port': [
    ['https://e.com:8080/', null, ['https://e.com:8080/', 'https://e.com/']],
    ['https://e.com:443/', null, ['https://e.com/', 'https://e.com:443/']],
    ['http://e.com:443/', null, ['http://e.com:443/', 'http://e.com/']],
    ['https://e.com:*/', null, ['https://e.com:1/', 'https://e.com/']],
    ['https://e.com:(80|443)/', null, ['https://e.com:80/', 'https://e.com/']],
    ['https://e.com:0080/', null, ['https://e.com:80/']],
    ['https://e.com:99999/', null, ['https://e.com/']],
    ['https://e.com:8a/', null, ['https://e.com:8/']],
    ['https://e.com::p/', null, ['https://e.com:8/']],
    ['https://e.com:8{0}80/', null, ['https://e.com:8080/']],
    ['foo://e.com:21/', null, ['foo://e.com:21/']],
    ['ftp://e.com:21/', null, ['ftp://e.com/']],
  ],
  'pathname canonicalization': [
    ['https://e.com/a/./b/../c', null, ['https://e.com/a/c', 'https://e.com/a/b/c']],
    ['https://e.com/caf\u00e9', null, ['https://e.com/caf%C3%A9', 'https://e.com/caf\u00e9']],
    ['https://e.com/a b', null, ['https://e.com/a%20b', 'https://e.com/a b']],
    ['https://e.com/%2e/x', null, ['https://e.com/x']],
    ['https://e.com/a^b', null, ['https://e.com/a^b']],
    ['https://e.com/a`b{c}', null, ['https://e.com/a`b{c}']],
    ['https://e.com/a|b', null, ['https://e.com/a|b']],
    ['https://e.com/a\'b', null, ['https://e.com/a\'b']],
    ['https://e.com', null, ['https://e.com/', 'https://e.com/x']],
    ['https://e.com/:x/..', null, ['https://e.com/']],
    ['foo:/a/./b', null, ['foo:/a/b']],
    ['foo:a b', null, ['foo:a b']],
    ['data:text/html,:x', null, ['data:text/html,hi']],
  ],
  'search and hash': [
    ['https://e.com/p?q=:v', null, ['https://e.com/p?q=1', 'https://e.com/p?q=1&r=2', 'https://e.com/p']],
    ['https://e.com/p?*', null, ['https://e.com/p', 'https://e.com/p?x']],
    ['https://e.com/p?x=(\\d+)', null, ['https://e.com/p?x=12', 'https://e.com/p?x=a']],
    ['https://e.com/p?a b', null, ['https://e.com/p?a b', 'https://e.com/p?a%20b']],
    ['https://e.com/p?a\'b', null, ['https://e.com/p?a\'b']],
    ['https://e.com/p#:h', null, ['https://e.com/p#top', 'https://e.com/p']],
    ['https://e.com/p#a b', null, ['https://e.com/p#a b']],
    ['https://e.com/p#', null, ['https://e.com/p#', 'https://e.com/p']],
    ['https://e.com/p?', null, ['https://e.com/p?', 'https://e.com/p']],
    ['https://e.com/p?#', null, ['https://e.com/p']],
    ['https://e.com/:x?q', null, ['https://e.com/a?q', 'https://e.com/aq']],
    ['https://e.com/*?q', null, ['https://e.com/a?q']],
    ['https://e.com/(a)?q', null, ['https://e.com/a?q']],
    ['https://e.com/{a}?q', null, ['https://e.com/a?q']],
    ['https://e.com?q=1#h', null, ['https://e.com/?q=1#h']],
    ['https://e.com#h', null, ['https://e.com/#h']],
  ],
  'relative patterns': [
    ['/p/:x', 'https://e.com/a/b', ['https://e.com/p/1', '/p/1', 'p/1']],
    ['p/:x', 'https://e.com/a/b', ['https://e.com/a/p/1', 'p/1', '/p/1']],
    ['../p', 'https://e.com/a/b/c', ['https://e.com/a/p']],
    ['?q=:v', 'https://e.com/a/b', ['https://e.com/a/b?q=1', '?q=1', 'https://e.com/a/c?q=1']],
    ['#:h', 'https://e.com/a?x', ['https://e.com/a?x#y', '#y', 'https://e.com/a#y']],
    ['//h2/p', 'https://e.com/a', ['https://h2/p', '//h2/p']],
    ['', 'https://e.com/a?b#c', ['https://e.com/a?b#c', 'https://e.com/a?b', 'https://e.com/a']],
    ['*', 'https://e.com/a/', ['https://e.com/a/x', 'https://e.com/b']],
    [':x', 'https://e.com/a/', ['https://e.com/a/x', 'https://e.com/a/x/y']],
    ['/:x', 'https://e.com:8080/a', ['https://e.com:8080/q', 'https://e.com/q']],
    ['/x', 'foo:opaque', ['foo:opaque']],
    ['/x', 'not a url', ['https://e.com/x']],
    ['x', 'https://u:p@e.com/', ['https://u:p@e.com/x', 'https://e.com/x']],
    ['{/:x}?', 'https://e.com', ['https://e.com/', 'https://e.com/a']],
    ['\\/x', 'https://e.com/a/', ['https://e.com/x']],
    ['https://e.com/x', 'https://other.com/', ['/x', 'https://e.com/x']],
    ['/x', null, ['https://e.com/x']],
  ],
  'inputs that are not URLs': [
    ['*://*/*', null, ['not a url', 'https://exa mple.com/', 'https://[::1/', 'http://999999999999/', '', 'https://', 'https://e.com:99999/']],
    ['https://e.com/*', 'https://e.com/', ['', ' /x ', '\t/x', '//', '///x', 'https:x', 'HTTPS:\\\\e.com\\x']],
  ],
};

// Per-component vocabularies: [pattern text, sample matching text or null].
const V = {
  protocol: [['https', 'https'], ['http', 'http'], ['http{s}?', 'http'], ['(https?)', 'https'], ['*', 'wss'],
    [':p', 'http'], ['HTTP', 'http'], ['ws{s}?', 'wss'], ['foo', 'foo'], ['ht*', 'http']],
  userinfo: [['', ''], ['', ''], ['', ''], ['u@', 'u@'], ['u:p@', 'u:p@'], [':u@', 'x@'], ['*:*@', 'a:b@'], ['u\\:x@', 'u:x@']],
  hostname: [['example.com', 'example.com'], ['*.example.com', 'a.example.com'], [':sub.example.com', 'www.example.com'],
    ['{www.}?example.com', 'www.example.com'], ['EXAMPLE.com', 'example.com'], ['127.0.0.1', '127.0.0.1'], ['[::1]', '[::1]'],
    ['caf\u00e9.com', 'xn--caf-dma.com'], ['*', 'h'], ['localhost', 'localhost'], ['a.:b.c', 'a.x.c'], ['(a|b).com', 'b.com'],
    ['ex%41mple.com', 'example.com'], ['{:s.}*e.com', 'a.b.e.com']],
  port: [['', ''], ['', ''], [':8080', ':8080'], [':*', ':1234'], [':80', ''], [':443', ':443'], [':(\\d+)', ':99'], [':0080', ':80']],
  path: [['/foo', '/foo'], ['/:id', '/42'], ['/:id?', '/x'], ['/:id+', '/a/b'], ['/:id*', ''], ['/*', '/a/b'],
    ['/(\\d+)', '/123'], ['/:n(\\d+)', '/7'], ['{/bar}?', '/bar'], ['{/:x}*', '/u/v'], ['/a\\:b', '/a:b'], ['/(.*)', '/z'],
    ['/caf\u00e9', '/caf%C3%A9'], ['/a%20b', '/a%20b'], ['/a b', '/a%20b'], ['/.', ''], ['/..', ''], ['/a.:ext', '/a.html'],
    ['/:a-:b', '/x-y'], ['/{:x}', '/q'], ['/*.html', '/i.html'], ['/\\*', '/*'], ['/(foo|bar)', '/bar'], ['/([a-z]+)', '/abc'],
    ['/{a}', '/a'], ['/:x(a|b)+', '/a/b'], ['/%2e%2e', ''], ['/x{-:y}?', '/x-1'], ['/books', '/books'], ['/:id\\.json', '/1.json']],
  search: [['', ''], ['', ''], ['?q=:v', '?q=1'], ['\\?a=*', '?a=zz'], ['?*', '?any'], ['?x=(\\d+)', '?x=5'], ['?a=1&b=:b', '?a=1&b=2'],
    ['?', '?'], ['?a b', '?a%20b']],
  hash: [['', ''], ['', ''], ['#:h', '#top'], ['#top', '#top'], ['#*', '#x'], ['#a b', '#a%20b']],
};

const POOL = ['https://example.com/', 'https://example.com/foo', 'https://example.com/foo/42', 'https://www.example.com/foo',
  'https://a.example.com:8080/x?q=1#top', 'http://example.com/books/1', 'https://EXAMPLE.COM/FOO', 'https://127.1/',
  'https://[0::1]/a', 'https://xn--caf-dma.com/caf%C3%A9', 'https://caf\u00e9.com/caf\u00e9', 'wss://h/a/b', 'foo://example.com/foo',
  'foo:bar', 'https://u:p@example.com/foo', 'https://example.com/a:b', 'https://example.com/a/./b/../c', 'https://example.com/i.html',
  'https://example.com/x-y?a=1&b=2#h', 'https://example.com/123', 'https://example.com\\foo\\42', '/foo/42', 'foo', '?q=1', '#top',
  'https://example.com/foo?q=1', 'https://localhost/', 'http://localhost:80/', 'https://example.com/bar', 'https://b.com/u/v',
  'file:///etc/passwd', 'https://example.com/a%20b', 'https://example.com/a b', 'https://example.com/%2e%2e/x', 'not a url'];

const BASES = [null, null, null, 'https://example.com/base/', HUB, MERCURE_DEFAULT, 'https://example.com/a/b?q#h'];

function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Every printable ASCII character (and a few non-ASCII ones) in each component's fixed text,
// escaped when it is pattern syntax, against a URL carrying the same character raw: exercises
// each component's percent-encode set and the constructor string's component boundaries.
function perCharacterCases() {
  const out = [];
  const chars = [];
  for (let c = 0x20; c < 0x7f; c++) chars.push(String.fromCharCode(c));
  chars.push('\u00e9', '\u2603', '\u{1F600}', '\u00a0');
  const esc = (ch) => ('+*?:{}()\\'.includes(ch) ? `\\${ch}` : ch);
  for (const ch of chars) {
    const e = esc(ch);
    const rows = [
      ['pathname', `https://e.com/a${e}b`, `https://e.com/a${ch}b`],
      ['search', `https://e.com/p\\?a${e}b`, `https://e.com/p?a${ch}b`],
      ['hash', `https://e.com/p#a${e}b`, `https://e.com/p#a${ch}b`],
      ['username', `https://a${e}b@e.com/`, `https://a${ch}b@e.com/`],
      ['hostname', `https://a${e}b.com/`, `https://a${ch}b.com/`],
      ['opaque path', `foo:a${e}b`, `foo:a${ch}b`],
      ['non-special path', `foo://h/a${e}b`, `foo://h/a${ch}b`],
    ];
    for (const [where, pattern, input] of rows) out.push({ feature: `per-character: ${where}`, pattern, base: null, input, inputBase: null });
  }
  return out;
}

// Random strings over the pattern syntax's alphabet: mostly invalid or odd patterns, for the
// tokenizer's lenient and strict modes, the constructor string parser's state machine and the
// part parser's error paths.
function randomSyntaxCases(rnd, count) {
  const out = [];
  const alphabet = [':', '/', '/', '{', '}', '(', ')', '*', '?', '+', '\\', '#', '@', '[', ']', '.', 'a', 'b', 'x',
    '1', '%', '-', ' ', '\u00e9', '|', '^', '$', '&', '=', '!', ':a', '//', '://', '(a)', '(.*)', '{a}'];
  const prefixes = ['', '', 'https://', 'https://h', 'https://h/', 'foo:', 'foo://', 'http{s}?://', '*://'];
  const bases = [null, 'https://example.com/a/b', 'https://localhost/.well-known/mercure', 'foo:bar'];
  const inputs = ['https://h/', 'https://h/a', 'https://h/a/b?x#y', 'https://example.com/a/x', 'foo:bar', 'foo://h/a',
    'https://localhost/.well-known/a', '/a', 'a', '?x', '#y', 'https://u:p@h:8080/a'];
  for (let k = 0; k < count; k++) {
    let body = '';
    const len = 1 + Math.floor(rnd() * 12);
    for (let i = 0; i < len; i++) body += alphabet[Math.floor(rnd() * alphabet.length)];
    const pattern = prefixes[Math.floor(rnd() * prefixes.length)] + body;
    const base = bases[Math.floor(rnd() * bases.length)];
    for (let j = 0; j < 2; j++) {
      const input = inputs[Math.floor(rnd() * inputs.length)];
      out.push({ feature: 'random syntax', pattern, base, input, inputBase: base });
    }
  }
  return out;
}

export function buildCases({ generated = 1500, random = 1000, seed = 20261206 } = {}) {
  const cases = [...perCharacterCases(), ...randomSyntaxCases(prng(seed ^ 0x5eed), random)];
  for (const [feature, rows] of Object.entries(HAND)) {
    for (const [pattern, base, inputs] of rows) {
      for (const input of inputs) cases.push({ feature, pattern, base, input, inputBase: base });
    }
  }
  const rnd = prng(seed);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  for (let k = 0; k < generated; k++) {
    const relative = rnd() < 0.2;
    const proto = pick(V.protocol), user = pick(V.userinfo), host = pick(V.hostname), port = pick(V.port);
    const segs = [];
    const nsegs = Math.floor(rnd() * 4);
    for (let i = 0; i < nsegs; i++) segs.push(pick(V.path));
    const search = pick(V.search), hash = pick(V.hash);
    const path = segs.map((s) => s[0]).join('');
    const samplePath = segs.map((s) => s[1]).join('') || '/';
    let pattern, base, matching;
    if (relative) {
      base = pick(BASES.filter(Boolean));
      pattern = (path || '/x') + search[0] + hash[0];
      matching = (segs.length ? samplePath : '/x') + search[1] + hash[1];
    } else {
      base = pick(BASES);
      pattern = `${proto[0]}://${user[0]}${host[0]}${port[0]}${path}${search[0]}${hash[0]}`;
      matching = `${proto[1]}://${user[1]}${host[1]}${port[1]}${samplePath}${search[1]}${hash[1]}`;
    }
    const feature = relative ? 'generated relative' : 'generated absolute';
    cases.push({ feature, pattern, base, input: matching, inputBase: base });
    cases.push({ feature, pattern, base, input: pick(POOL), inputBase: base });
    if (rnd() < 0.5) {
      // a near miss: the matching input with one character changed or dropped
      const i = Math.floor(rnd() * matching.length);
      const mutated = rnd() < 0.5 ? matching.slice(0, i) + matching.slice(i + 1)
        : matching.slice(0, i) + pick(['/', 'x', '.', '?', '#', '%', ':', 'A']) + matching.slice(i + 1);
      cases.push({ feature, pattern, base, input: mutated, inputBase: base });
    }
  }
  return cases;
}
