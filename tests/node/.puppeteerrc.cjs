// @memlab/core (the heap snapshot parser and dominator computation used by
// test/snapshot.test.js) depends on puppeteer, whose install script would
// download a Chrome build: none is needed, and none can be downloaded here.
module.exports = { skipDownload: true };
