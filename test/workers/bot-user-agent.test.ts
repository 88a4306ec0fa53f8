/**
 * Layer 2 of bot screening (workers/collect/bot-user-agent.ts): which END USER user agents are
 * bots, of which kind and product. AI agents and link-preview fetchers are bots; in-app
 * browsers and real browsers are people, even where isbot's pattern trips on an app's segment.
 */
import crawlerUserAgents from 'crawler-user-agents';
import { isbotMatch } from 'isbot';
import topUserAgents from 'top-user-agents';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyUserAgent, createUserAgentClassifier, type BotCategory } from '../../workers/collect/bot-user-agent';

interface BotCase {
  name: string;
  userAgent: string;
  token: string;
}

interface HumanCase {
  name: string;
  userAgent: string;
}

const AI_AGENTS: BotCase[] = [
  { name: 'GPTBot', token: 'gptbot', userAgent: 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)' },
  { name: 'ChatGPT-User', token: 'chatgpt-user', userAgent: 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot' },
  {
    name: 'OAI-SearchBot',
    token: 'oai-searchbot',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot',
  },
  { name: 'ClaudeBot', token: 'claudebot', userAgent: 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)' },
  { name: 'Claude-User', token: 'claude-user', userAgent: 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)' },
  { name: 'anthropic-ai', token: 'anthropic-ai', userAgent: 'anthropic-ai' },
  { name: 'PerplexityBot', token: 'perplexitybot', userAgent: 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)' },
  { name: 'Perplexity-User', token: 'perplexity-user', userAgent: 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)' },
  { name: 'CCBot', token: 'ccbot', userAgent: 'CCBot/2.0 (https://commoncrawl.org/faq/)' },
  {
    name: 'Bytespider',
    token: 'bytespider',
    userAgent: 'Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)',
  },
  { name: 'Google-Extended', token: 'google-extended', userAgent: 'Mozilla/5.0 (compatible; Google-Extended)' },
  { name: 'Applebot-Extended', token: 'applebot-extended', userAgent: 'Mozilla/5.0 (compatible; Applebot-Extended/0.1; +http://www.apple.com/go/applebot)' },
  {
    name: 'Amazonbot',
    token: 'amazonbot',
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 (compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)',
  },
  { name: 'meta-externalagent', token: 'meta-externalagent', userAgent: 'meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)' },
  { name: 'MistralAI-User', token: 'mistralai-user', userAgent: 'Mozilla/5.0 (compatible; MistralAI-User/1.0; +https://docs.mistral.ai/robots)' },
  { name: 'DuckAssistBot', token: 'duckassistbot', userAgent: 'Mozilla/5.0 (compatible; DuckAssistBot/1.2; +http://duckduckgo.com/duckassistbot.html)' },
  {
    name: 'GitHub Copilot in VS Code (a hidden Electron window)',
    token: 'vscode',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.115.0 Chrome/142.0.7444.265 Electron/39.8.5 Safari/537.36',
  },
  {
    name: 'Cursor (a hidden Electron window)',
    token: 'cursor',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Cursor/0.45.14 Chrome/128.0.6613.186 Electron/32.2.6 Safari/537.36',
  },
];

const LINK_PREVIEWS: BotCase[] = [
  { name: 'facebookexternalhit', token: 'facebookexternalhit', userAgent: 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)' },
  { name: 'Facebot', token: 'facebot', userAgent: 'Mozilla/5.0 (compatible; Facebot)' },
  { name: 'Twitterbot', token: 'twitterbot', userAgent: 'Twitterbot/1.0' },
  { name: 'Slackbot-LinkExpanding', token: 'slackbot-linkexpanding', userAgent: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' },
  { name: 'Slackbot', token: 'slackbot', userAgent: 'Slackbot 1.0 (+https://api.slack.com/robots)' },
  { name: 'Discordbot', token: 'discordbot', userAgent: 'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)' },
  { name: 'LinkedInBot', token: 'linkedinbot', userAgent: 'LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)' },
  { name: 'WhatsApp (Android)', token: 'whatsapp', userAgent: 'WhatsApp/2.23.20.0 A' },
  { name: 'WhatsApp (Windows)', token: 'whatsapp', userAgent: 'WhatsApp/2.2407.3 W' },
  { name: 'TelegramBot', token: 'telegrambot', userAgent: 'TelegramBot (like TwitterBot)' },
  { name: 'Pinterestbot', token: 'pinterestbot', userAgent: 'Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)' },
  { name: 'Pinterest preview fetcher', token: 'pinterest', userAgent: 'Pinterest/0.2 (+https://www.pinterest.com/bot.html)' },
  { name: 'SkypeUriPreview (Skype, Teams)', token: 'skypeuripreview', userAgent: 'Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com' },
  { name: 'Embedly', token: 'embedly', userAgent: 'Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)' },
  {
    name: "iMessage's preview",
    token: 'facebookexternalhit',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0',
  },
  { name: 'Mastodon', token: 'mastodon', userAgent: 'http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/) Bot' },
  { name: 'Bluesky', token: 'bluesky-cardyb', userAgent: 'Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)' },
];

const CRAWLERS: BotCase[] = [
  { name: 'Googlebot', token: 'googlebot', userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
  {
    name: 'Googlebot smartphone',
    token: 'googlebot',
    userAgent:
      'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  },
  { name: 'bingbot', token: 'bingbot', userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)' },
  {
    name: 'Applebot',
    token: 'applebot',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)',
  },
  { name: 'YandexBot', token: 'yandexbot', userAgent: 'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)' },
  { name: 'AhrefsBot', token: 'ahrefsbot', userAgent: 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)' },
  { name: 'a bot named only by its contact URL', token: 'goodreads', userAgent: 'Mozilla/5.0 (compatible; Goodreads; +https://www.goodreads.com)' },
  { name: 'a bot whose name is generic words', token: 'known-agent', userAgent: 'Mozilla/5.0 (compatible; Known Agent/1.0; +https://knownagents.com)' },
];

const MONITORS: BotCase[] = [
  { name: 'UptimeRobot', token: 'uptimerobot', userAgent: 'Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)' },
  { name: 'Pingdom', token: 'pingdom', userAgent: 'Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)' },
  {
    name: 'Lighthouse (PageSpeed Insights)',
    token: 'chrome-lighthouse',
    userAgent: 'Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse',
  },
  { name: 'GTmetrix', token: 'gtmetrix', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 GTmetrix' },
];

const TOOLS: BotCase[] = [
  { name: 'curl', token: 'curl', userAgent: 'curl/8.5.0' },
  { name: 'Wget', token: 'wget', userAgent: 'Wget/1.21.4' },
  { name: 'python-requests', token: 'python-requests', userAgent: 'python-requests/2.31.0' },
  { name: 'aiohttp (not an AI agent)', token: 'aiohttp', userAgent: 'aiohttp/3.9.1' },
  { name: 'Go', token: 'go-http-client', userAgent: 'Go-http-client/2.0' },
  { name: 'OkHttp', token: 'okhttp', userAgent: 'okhttp/4.12.0' },
  { name: 'axios', token: 'axios', userAgent: 'axios/1.6.8' },
  { name: 'Node.js fetch', token: 'node', userAgent: 'node' },
  { name: 'Postman', token: 'postmanruntime', userAgent: 'PostmanRuntime/7.36.0' },
  { name: 'PowerShell', token: 'powershell', userAgent: 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.22621.2506' },
  { name: 'Dart', token: 'dart', userAgent: 'Dart/3.5 (dart:io)' },
];

const HEADLESS: BotCase[] = [
  { name: 'HeadlessChrome', token: 'headlesschrome', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36' },
  { name: 'PhantomJS', token: 'phantomjs', userAgent: 'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534.34 (KHTML, like Gecko) PhantomJS/1.9.2 Safari/534.34' },
  { name: 'Puppeteer-tagged Chrome', token: 'puppeteer', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Puppeteer' },
  { name: 'jsdom', token: 'jsdom', userAgent: 'Mozilla/5.0 (unknown OS) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/24.0.0' },
];

const IN_APP_BROWSERS: HumanCase[] = [
  {
    name: 'Instagram (iOS)',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone14,5; iOS 17_5; en_US; en; scale=3.00; 1170x2532; 606558398; IABMV/1)',
  },
  {
    name: 'Instagram (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/142.0.7444.142 Mobile Safari/537.36 Instagram 406.0.0.58.159 Android (35/15; 480dpi; 1080x2400; OPPO; CPH2557; OP573DL1; mt6833; en_MY; 822918295; IABMV/1) NV/1',
  },
  {
    name: 'Facebook (iOS, FBAN/FBAV)',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/458.0.0.38.108;FBBV/579867534;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/582107614]',
  },
  {
    name: 'Facebook (Android, FB_IAB)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/463.0.0.47.109;]',
  },
  {
    name: 'Messenger (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 [FB_IAB/Orca-Android;FBAV/452.0.0.44.109;]',
  },
  {
    name: 'Meta in-app browser (MetaIAB)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 16; Pixel 10 Pro XL Build/CP1A.260305.018; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/146.0.7680.174 Mobile Safari/537.36 MetaIAB Facebook',
  },
  {
    name: 'Threads (iOS)',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Barcelona 334.0.0.21.108 (iPhone15,3; iOS 17_5; en_US; en; scale=3.00; 1290x2796; 609254347; IABMV/1)',
  },
  { name: 'LinkedIn (iOS)', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.7826' },
  {
    name: 'LinkedIn (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 [LinkedInApp]/4.1.960',
  },
  { name: 'LINE (iOS)', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.8.0' },
  {
    name: 'LINE (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; SM-A546E Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 Line/14.7.1/IAB',
  },
  { name: 'Twitter for iPhone', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Twitter for iPhone/10.12' },
  {
    name: 'Twitter (Android)',
    userAgent: 'Mozilla/5.0 (Linux; Android 13; Pixel 6 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 TwitterAndroid',
  },
  {
    name: 'Snapchat (iOS)',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/13.10.0.38 (like Safari/8618.2.12.10.6, panda)',
  },
  {
    name: 'Snapchat (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; SM-S921B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 Snapchat/13.12.0.42 (SM-S921B; Android 14#S921BXXU1AXD9#34; gzip; )',
  },
  {
    name: 'TikTok (iOS, musical_ly / BytedanceWebview)',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_34.8.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6',
  },
  {
    name: 'TikTok (Android, trill)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/123.0.6312.118 Mobile Safari/537.36 trill_340503 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/trill app_version/34.5.3 ByteLocale/en ByteFullLocale/en Region/DE AppId/1180 Spark/1.5.5.3-bugfix AppVersion/34.5.3 BytedanceWebview/d8a21c6',
  },
  {
    name: 'WeChat (iOS, MicroMessenger)',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN',
  },
  {
    name: 'Pinterest (iOS)',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]',
  },
  {
    name: 'Pinterest (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240505.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 [Pinterest/Android]',
  },
  {
    name: 'Google app (iOS, GSA)',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/318.0.636488811 Mobile/15E148 Safari/604.1',
  },
  {
    name: 'Google app (Android, GSA)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240505.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 GSA/15.20.31.29.arm64',
  },
  {
    name: 'Telegram (Android)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; SM-S911B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 Telegram-Android/11.0.0 (Samsung SM-S911B; Android 14; SDK 34; HIGH)',
  },
  { name: 'KakaoTalk', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 KAKAOTALK 10.8.5' },
  { name: 'NAVER', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 NAVER(inapp; search; 2000; 12.5.7; 14PROMAX)' },
  {
    name: 'Discord desktop (Electron)',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) discord/1.0.9147 Chrome/120.0.6099.291 Electron/28.2.10 Safari/537.36',
  },
  {
    name: 'Slack desktop (Electron)',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.38.125 Chrome/124.0.6367.207 Electron/30.0.6 Safari/537.36 Sonic Slack_SSB/4.38.125',
  },
];

/** Real user agents isbot's pattern flags by an app's or device's own segment; each is excused. */
const ISBOT_TRIPS_ON: HumanCase[] = [
  {
    name: 'Alipay (screen metrics `ws:360|0|2.0`)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 10; VOG-AL00 Build/HUAWEIVOG-AL00; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/105.0.5195.148 Mobile Safari/537.36 NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:360|0|3.0) AliApp(AP/10.3.50.9999) AlipayClient/10.3.50.9999 Language/en',
  },
  {
    name: 'WeChat (Android, `Process/tools`)',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; 23127PN0CC Build/UKQ1.230804.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.120 Mobile Safari/537.36 XWEB/1220089 MMWEBSDK/20240404 MMWEBID/6171 MicroMessenger/8.0.49.2600(0x2800313D) WeChat/arm64 Weixin Process/tools NetType/WIFI Language/zh_CN ABI/arm64',
  },
  {
    name: 'Sogou mobile browser',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_2 like Mac OS X) AppleWebKit/603.2.4 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30 SogouMSE,SogouMobileBrowser/3.7.4',
  },
  {
    name: 'a Google TV set',
    userAgent:
      'Mozilla/5.0 (Linux; Android 11; Philips Google TV TA7 Build/RTM5.220609.199; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/111.0.5563.58 Mobile Safari/537.36',
  },
  { name: 'Chrome on Windows Server', userAgent: 'Mozilla/5.0 (Windows Server 2012 R2 Standard; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5975.80 Safari/537.36' },
];

const REAL_BROWSERS: HumanCase[] = [
  { name: 'Chrome (Windows)', userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36' },
  { name: 'Chrome (macOS)', userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36' },
  { name: 'Chrome (Android)', userAgent: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36' },
  { name: 'Chrome (iOS)', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1' },
  { name: 'Safari (macOS)', userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15' },
  { name: 'Safari (iOS)', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1' },
  { name: 'Firefox (Linux)', userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' },
  { name: 'Firefox (Android)', userAgent: 'Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0' },
  { name: 'Edge', userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0' },
  { name: 'Opera', userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0' },
  {
    name: 'Samsung Internet',
    userAgent: 'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
  },
  {
    name: 'UC Browser',
    userAgent:
      'Mozilla/5.0 (Linux; U; Android 10; en-US; RMX1911 Build/QKQ1.200209.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36',
  },
  {
    name: 'DuckDuckGo (iOS)',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 DuckDuckGo/7 Safari/605.1.15',
  },
  {
    name: 'Yandex Browser',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 YaBrowser/24.6.0.0 Safari/537.36',
  },
  {
    name: 'Huawei Browser',
    userAgent:
      'Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13.0.321) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 HuaweiBrowser/14.0.5.302 Mobile Safari/537.36',
  },
  {
    name: 'Silk (Fire tablet)',
    userAgent: 'Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.4 like Chrome/124.0.6367.179 Safari/537.36',
  },
];

function expectBot(userAgent: string, category: BotCategory, token: string): void {
  expect(classifyUserAgent(userAgent)).toEqual({ bot: true, category, token });
}

describe('bots, by kind', () => {
  it.each(AI_AGENTS)('AI agent: $name', ({ userAgent, token }) => expectBot(userAgent, 'ai_agent', token));
  it.each(LINK_PREVIEWS)('link preview: $name', ({ userAgent, token }) => expectBot(userAgent, 'link_preview', token));
  it.each(CRAWLERS)('crawler: $name', ({ userAgent, token }) => expectBot(userAgent, 'crawler', token));
  it.each(MONITORS)('monitor: $name', ({ userAgent, token }) => expectBot(userAgent, 'monitor', token));
  it.each(TOOLS)('tool: $name', ({ userAgent, token }) => expectBot(userAgent, 'tool', token));
  it.each(HEADLESS)('headless browser: $name', ({ userAgent, token }) => expectBot(userAgent, 'headless', token));
});

describe('people', () => {
  it.each(IN_APP_BROWSERS)('in-app browser: $name', ({ userAgent }) => {
    expect(classifyUserAgent(userAgent)).toEqual({ bot: false });
  });

  it.each(ISBOT_TRIPS_ON)('excused where isbot trips on its own segment: $name', ({ userAgent }) => {
    expect(isbotMatch(userAgent)).not.toBeNull();
    expect(classifyUserAgent(userAgent)).toEqual({ bot: false });
  });

  it.each(REAL_BROWSERS)('real browser: $name', ({ userAgent }) => {
    expect(classifyUserAgent(userAgent)).toEqual({ bot: false });
  });

  it('an excused app segment hides nothing else: a bot token elsewhere in the same user agent still decides', () => {
    const alipay = ISBOT_TRIPS_ON[0]?.userAgent ?? '';
    expect(classifyUserAgent(`${alipay} (compatible; examplespider/1.0)`)).toEqual({ bot: true, category: 'crawler', token: 'examplespider' });
  });
});

describe('hostile user agents (server traffic forwards whatever it is given)', () => {
  // The time this takes is checked in test/node/bot-user-agent.test.ts: workerd's clock stands still while code runs.
  it('reads only the first kilobyte, so a bot token behind padding is not looked for', () => {
    const chrome = REAL_BROWSERS[0]?.userAgent ?? '';
    expect(classifyUserAgent(`${chrome} ${'x'.repeat(2_000)} Googlebot/2.1`)).toEqual({ bot: false });
    expect(classifyUserAgent(`${chrome} Googlebot/2.1 ${'x'.repeat(2_000)}`)).toEqual({ bot: true, category: 'crawler', token: 'googlebot' });
  });
});

describe('the isolate cache', () => {
  // Bot verdicts, since every human verdict is one shared object.
  const [first, second, third] = AI_AGENTS.map(({ userAgent }) => userAgent);

  it('hands back the verdict it already has for a user agent', () => {
    const classify = createUserAgentClassifier(4);
    expect(classify(first ?? '')).toBe(classify(first ?? ''));
  });

  it('is bounded: once full it starts over, and verdicts stay the same', () => {
    const classify = createUserAgentClassifier(2);
    const remembered = classify(first ?? '');
    classify(second ?? '');
    classify(third ?? '');
    const again = classify(first ?? '');
    expect(again).not.toBe(remembered);
    expect(again).toEqual(remembered);
  });

  it('does not keep odd, very long user agents', () => {
    const classify = createUserAgentClassifier(4);
    const long = `${first ?? ''} ${'x'.repeat(2000)}`;
    expect(classify(long)).not.toBe(classify(long));
  });
});

/** The package's typings leave out `tags`. */
const crawlerEntries = z.array(z.object({ pattern: z.string(), instances: z.array(z.string()), tags: z.array(z.string()).optional() })).parse(crawlerUserAgents);

/** crawler-user-agents lists these in-app browsers as bots; they are people (see bench/results/bots-misses.md). */
const DELIBERATELY_HUMAN_PATTERNS = new Set(['AP3A\\.240617\\.008', 'MetaIAB Facebook', 'Fluid']);

describe('corpora', () => {
  it('flags every AI-crawler and social-preview instance of crawler-user-agents, and at least 99 % of all of them', () => {
    const instances = crawlerEntries.filter(({ pattern }) => !DELIBERATELY_HUMAN_PATTERNS.has(pattern)).flatMap(({ instances, tags }) => instances.map((userAgent) => ({ userAgent, tags: tags ?? [] })));
    const missed = instances.filter(({ userAgent }) => !classifyUserAgent(userAgent).bot);
    expect(missed.filter(({ tags }) => tags.includes('ai-crawler') || tags.includes('social-preview'))).toEqual([]);
    expect(missed.length / instances.length).toBeLessThanOrEqual(0.01);
  });

  // user-agents' 5 MB data file is too large for the Workers pool: test/node/bot-user-agent.test.ts checks it.
  it('flags none of the most common real browsers (top-user-agents)', () => {
    expect(topUserAgents.length).toBeGreaterThanOrEqual(100);
    expect(topUserAgents.filter((userAgent) => classifyUserAgent(userAgent).bot)).toEqual([]);
  });
});
