// The null worker: a benchmark floor, never shipped. It reads the request body as JSON
// (what any worker behind a form has to do) and answers 202, with no checks and no I/O,
// so its figures are workerd's own cost of a request in this setup.

export default {
  async fetch(request) {
    let body = null;
    try {
      body = await request.json();
    } catch {
      // A benchmark floor answers the same whatever it was sent.
    }
    return Response.json({ status: 'pending', got: typeof body?.phone }, { status: 202 });
  },
};
