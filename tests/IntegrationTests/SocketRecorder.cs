using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Occystrap.IntegrationTests;

/// <summary>
/// A unix socket in front of a daemon's socket that passes every byte through and records the request
/// lines the client sent (<c>GET /v1.41/images/x/json</c>), to show which API calls a command made.
/// </summary>
public sealed partial class SocketRecorder : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly string _target;
    private readonly List<StringBuilder> _sent = [];

    public SocketRecorder(string target, string path)
    {
        _target = target;
        Path = path;
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(16);
        _ = Task.Run(AcceptAsync);
    }

    public string Path { get; }

    /// <summary>Method and path of each request seen so far.</summary>
    public List<string> Requests
    {
        get
        {
            lock (_sent)
                return _sent.SelectMany(s => RequestLine().Matches(s.ToString()).Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}")).ToList();
        }
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync();
            }
            catch (Exception)
            {
                return;
            }
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var upstream = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var sent = new StringBuilder();
        lock (_sent) _sent.Add(sent);
        try
        {
            await upstream.ConnectAsync(new UnixDomainSocketEndPoint(_target));
            var up = Pump(client, upstream, sent);
            var down = Pump(upstream, client, null);
            await Task.WhenAny(up, down);
        }
        catch (Exception)
        {
            // a connection that breaks ends the relay
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task Pump(Socket from, Socket to, StringBuilder? record)
    {
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = await from.ReceiveAsync(buffer)) > 0)
        {
            // Request heads are ASCII; only the first bytes of each read matter for the request line.
            if (record is not null) lock (_sent) record.Append(Encoding.Latin1.GetString(buffer, 0, Math.Min(n, 4096)));
            await to.SendAsync(buffer.AsMemory(0, n));
        }
        to.Shutdown(SocketShutdown.Send);
    }

    [GeneratedRegex(@"(GET|POST|HEAD|DELETE|PUT) (/[^ \r\n]*) HTTP/1\.[01]")]
    private static partial Regex RequestLine();

    public void Dispose()
    {
        _listener.Dispose();
        File.Delete(Path);
    }
}
