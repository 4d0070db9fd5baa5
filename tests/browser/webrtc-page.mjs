// Drives the host's try-it page (/webrtc/) in Debian's Chromium, with a fake microphone:
// connect with a web token, wait for the tool call and its output in the page's log, hang up, wait
// for the end. Leaves a screenshot at each step. Exit 0 when every step was seen, else 1 with the log.
//   node webrtc-page.mjs PAGE_URL TOKEN OUTPUT_DIR
import { chromium } from "playwright-core";

const [url, token, out] = process.argv.slice(2);
if (!url || !token || !out) {
  console.error("usage: node webrtc-page.mjs PAGE_URL TOKEN OUTPUT_DIR");
  process.exit(64);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--no-sandbox"],
});
const context = await browser.newContext({ ignoreHTTPSErrors: true }); // the test CA's certificate
await context.grantPermissions(["microphone"]);
const page = await context.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });

const logText = () => page.locator("#log").innerText();
async function waitForLog(text, what) {
  try {
    await page.locator("#log", { hasText: text }).waitFor({ timeout: 20000 });
  } catch (e) {
    throw new Error("no " + what + " in the page's log (" + text + ")");
  }
}

let ok = false;
try {
  await page.goto(url);
  await page.fill("#token", token);
  await page.click("#connect");
  await waitForLog("created", "call");
  await waitForLog("session open", "session");
  await waitForLog("tool call echo", "tool call");
  await waitForLog("tool output", "tool output");
  await page.screenshot({ path: out + "/webrtc-page-connected.png", fullPage: true });
  await page.click("#hangup");
  await waitForLog("call ended", "end");
  await page.locator("#status", { hasText: "ended" }).waitFor({ timeout: 10000 });
  await page.screenshot({ path: out + "/webrtc-page-ended.png", fullPage: true });
  ok = problems.length === 0;
} catch (e) {
  problems.push(String(e.message || e));
  await page.screenshot({ path: out + "/webrtc-page-failed.png", fullPage: true }).catch(() => {});
}
console.log("--- page log ---\n" + (await logText().catch(() => "(unreadable)")));
for (const p of problems) console.error(p);
await browser.close();
process.exit(ok ? 0 : 1);
