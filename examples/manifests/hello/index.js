exports.handler = async (req) => {
  const data = (await req.json()) ?? {};
  return { statusCode: 200, body: { message: `Hello ${data.name ?? 'world'}!`, version: 1 } };
};
