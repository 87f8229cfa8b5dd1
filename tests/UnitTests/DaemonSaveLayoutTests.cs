using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Daemons;
using Occystrap.Formats.Tar;

namespace Occystrap.UnitTests;

/// <summary>
/// The Docker 25+ save layout (an OCI layout in the stream, layers as blobs/sha256/DIFFID), which the
/// daemons packaged here do not write: a fake Engine on a unix socket serves it. Layers are asked for
/// in image order; those that the stream brings earlier are spooled, the others stream through.
/// </summary>
public sealed class DaemonSaveLayoutTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    public void Dispose()
    {
        _listener.Dispose();
        _dir.Dispose();
    }

    private static byte[] Tar(params (string Name, byte[] Content)[] files)
    {
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            foreach (var (name, content) in files)
                w.WriteEntry(new LayerEntry(name, EntryKind.File, content.Length) { Mode = 0x1A4 }, new MemoryStream(content));
            w.Finish();
        }
        return ms.ToArray();
    }

    private void Serve(Dictionary<string, byte[]> answers)
    {
        string path = _dir["engine.sock"];
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket client;
                try { client = await _listener.AcceptAsync(); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using var stream = new NetworkStream(client, ownsSocket: true);
                    var reader = new StreamReader(stream, Encoding.ASCII);
                    while (await reader.ReadLineAsync() is { Length: > 0 } request)
                    {
                        while (await reader.ReadLineAsync() is { Length: > 0 }) { }
                        string url = request.Split(' ')[1];
                        byte[] body = answers.FirstOrDefault(a => url.EndsWith(a.Key, StringComparison.Ordinal)).Value ?? [];
                        int status = body.Length > 0 ? 200 : 404;
                        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: {body.Length}\r\n\r\n"));
                        await stream.WriteAsync(body);
                    }
                });
            }
        });
    }

    [Fact]
    public async Task Layers_of_a_docker_25_save_stream_come_out_in_image_order_spooling_only_early_ones()
    {
        var layers = Enumerable.Range(0, 5).Select(i => Tar(($"f{i}", Encoding.UTF8.GetBytes(new string((char)('a' + i), 1000 * (i + 1)))))).ToList();
        var diffIds = layers.Select(l => Digest.Compute(l)).ToList();
        byte[] config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffIds.Select(d => (JsonNode)d.ToString()).ToArray()) },
        }.ToJsonString());
        var configDigest = Digest.Compute(config);
        // As docker save writes it: members sorted by name, so the layers come in digest order.
        var members = layers.Select(l => ($"blobs/sha256/{Digest.Compute(l).Hex}", l))
            .Append(($"blobs/sha256/{configDigest.Hex}", config))
            .OrderBy(m => m.Item1, StringComparer.Ordinal)
            .Append(("index.json", "{}"u8.ToArray())).Append(("manifest.json", "[]"u8.ToArray())).Append(("oci-layout", "{}"u8.ToArray()))
            .ToArray();
        var inspect = new JsonObject
        {
            ["Id"] = configDigest.ToString(),
            ["RootFS"] = new JsonObject { ["Layers"] = new JsonArray(diffIds.Select(d => (JsonNode)d.ToString()).ToArray()) },
        };
        Serve(new Dictionary<string, byte[]>
        {
            ["/version"] = """{"ApiVersion":"1.44","Components":[{"Name":"Engine"}]}"""u8.ToArray(),
            ["/images/x%3A1/json"] = Encoding.UTF8.GetBytes(inspect.ToJsonString()),
            ["/images/x%3A1/get"] = Tar(members),
        });

        using var client = await EngineClient.ConnectAsync(_dir["engine.sock"], default);
        await using var image = await DaemonImage.OpenAsync(client, "x:1", _dir.Path, NullLogger.Instance, default);
        image.Config.ToArray().Should().Equal(config);
        for (int i = 0; i < layers.Count; i++)
        {
            await using var s = await image.Layers[i].OpenAsync(default);
            var read = new MemoryStream();
            await s.CopyToAsync(read);
            read.ToArray().Should().Equal(layers[i], $"layer {i}");
        }
        // A layer is spooled when it comes before the config, or before its turn.
        int expected = 0, next = 0;
        bool configSeen = false;
        // Replay: before the config everything is spooled; after it, a layer streams only when it is the one asked for.
        var spooled = new HashSet<int>();
        foreach (var (name, _) in members)
        {
            if (name.EndsWith(configDigest.Hex, StringComparison.Ordinal)) { configSeen = true; continue; }
            int index = diffIds.FindIndex(d => name.EndsWith(d.Hex, StringComparison.Ordinal));
            if (index < 0) continue;
            while (spooled.Contains(next)) next++;
            if (!configSeen || index != next) { spooled.Add(index); expected++; }
            else next++;
        }
        image.Spooled.Should().Be(expected);
        image.Spooled.Should().BeLessThan(layers.Count, "some layers stream straight through");
        Directory.GetFiles(_dir.Path, ".occystrap-daemon-*").Should().HaveCount(expected);
    }
}
