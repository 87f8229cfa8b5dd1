using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Occystrap.Host;

/// <summary>
/// A command that talks to a registry spends its first 30 ms or so of HTTP on the runtime itself: loading and
/// compiling the HTTP stack (connection pool, parser, async state machines) at the first request. This runs one
/// plain request on the other core while the command line is parsed and the plugins load, against a listener of
/// its own on 127.0.0.1 that exists for those few milliseconds and answers one canned response; the real
/// requests then find that code ready. Nothing reaches the network, and any failure is ignored: only time is at
/// stake.
/// </summary>
internal static class HttpWarmUp
{
    public static bool Wanted(string[] args) => args.Any(a => a.StartsWith("registry://", StringComparison.OrdinalIgnoreCase));

    public static async Task RunAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(1);
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serve = ServeOnceAsync(listener, stop.Token);
        using (var handler = new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseProxy = false })
        using (var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan })
        using (var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/v2/"),
            HttpCompletionOption.ResponseHeadersRead, stop.Token).ConfigureAwait(false))
        {
            await using var body = await response.Content.ReadAsStreamAsync(stop.Token).ConfigureAwait(false);
            await body.CopyToAsync(Stream.Null, stop.Token).ConfigureAwait(false);
        }
        await serve.ConfigureAwait(false);
    }

    private static async Task ServeOnceAsync(TcpListener listener, CancellationToken ct)
    {
        using var peer = await listener.AcceptTcpClientAsync(ct).ConfigureAwait(false);
        var stream = peer.GetStream();
        // The request's head, up to its blank line (at most 8 KiB); the body of the answer is a JSON object.
        var head = new byte[8192];
        int n = 0;
        while (n < head.Length && head.AsSpan(0, n).IndexOf("\r\n\r\n"u8) < 0)
        {
            int read = await stream.ReadAsync(head.AsMemory(n), ct).ConfigureAwait(false);
            if (read == 0) return;
            n += read;
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"), ct).ConfigureAwait(false);
    }
}
