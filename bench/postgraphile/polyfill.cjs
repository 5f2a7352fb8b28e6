// PostGraphile 5 asks for Node 22; on Node 20 the one thing it uses that is
// missing is Promise.withResolvers. Loaded with NODE_OPTIONS=--require.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
