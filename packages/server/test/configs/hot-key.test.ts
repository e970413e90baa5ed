import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, build, ns } from "../helper.js";

for (const backend of backends()) {
  describe(`a hot key (${backend})`, () => {
    it("60 concurrent unconditional writes of one key all land, each as its own version", async (t) => {
      const cairn = await build(t, backend);
      const url = `/api/v1/configs/${ns("hot/app")}/counter`;
      assert.equal((await cairn.call("PUT", url, { value: 0 })).status, 200);
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => cairn.call("PUT", url, { value: i + 1 })));
      assert.deepEqual(
        results.map((r) => r.status).filter((s) => s !== 200),
        [],
        `every write succeeds (last writer wins), none is refused: ${results.find((r) => r.status !== 200)?.text}`,
      );
      const versions = results.map((r) => r.json.version as number).sort((a, b) => a - b);
      assert.deepEqual(
        versions,
        Array.from({ length: 60 }, (_, i) => i + 2),
      );
      const latest = results.find((r) => r.json.version === 61);
      assert.deepEqual((await cairn.call("GET", url)).json.value, latest?.json.value, "the read returns the last version's value");
    });
  });
}
