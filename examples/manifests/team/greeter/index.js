exports.handler = async (req) => {
  const data = (await req.json()) ?? {};
  return { statusCode: 200, body: { message: `${process.env.GREETING} ${data.name ?? 'world'}!` } };
};
