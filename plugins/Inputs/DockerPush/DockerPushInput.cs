using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Daemons;
using Occystrap.Formats.Images;
using Occystrap.Formats.Layouts;
using Occystrap.RegistryServer;

namespace Occystrap.Inputs.DockerPush;

/// <summary>
/// <c>dockerpush://IMAGE[:TAG][?socket=PATH]</c>: the daemon pushes the image, layers in parallel and
/// compressed, to a registry this process serves on loopback for the run, over HTTPS with a certificate
/// and a credential made for the run. The image is tagged for that registry only while the push runs: the name is removed after
/// success, after a failure and on an interrupt.
/// </summary>
[InputPlugin("dockerpush")]
public sealed class DockerPushInput : IInputPlugin
{
    public string Description => "Read an image from a Docker or Podman daemon by having it push to an embedded registry (layers in parallel)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("socket", OptionType.String, "The daemon's unix socket (default: DOCKER_HOST if unix://, else /var/run/docker.sock)"),
    ];

    public async Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        if (invocation.Target.Length == 0) throw new UsageException("dockerpush:// needs an image name, e.g. dockerpush://busybox:latest");
        string reference = invocation.Target;
        var client = await EngineClient.ConnectAsync(EngineClient.ChooseSocket(invocation.Options.GetString("socket")), cancellationToken).ConfigureAwait(false);
        string storage = Path.Combine(invocation.TempDir, $"occystrap-push-{Guid.NewGuid():N}");
        EmbeddedRegistry? server = null;
        try
        {
            // Known before anything is started: a missing image fails here, with the daemon's words.
            await client.InspectImageAsync(reference, cancellationToken).ConfigureAwait(false);
            string password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            server = await EmbeddedRegistry.StartAsync(new RegistryServerOptions
            {
                StorageRoot = storage,
                // HTTPS with a certificate made for this run: dockerd skips verification for 127.0.0.0/8,
                // and Podman is told not to verify (tlsVerify=false), so no daemon setting changes.
                Https = true,
                Basic = new NetworkCredential("occystrap", password),
            }, cancellationToken).ConfigureAwait(false);
            string repository = $"occystrap-push/{Guid.NewGuid().ToString("N")[..12]}";
            string tagged = $"{server.Address}/{repository}";
            const string tag = "push";
            await client.TagAsync(reference, tagged, tag, cancellationToken).ConfigureAwait(false);
            try
            {
                invocation.Logger.LogPush(reference, server.Address);
                await client.PushAsync(tagged, tag, "occystrap", password, server.Address, insecure: true, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Also after a failure or an interrupt: the daemon keeps no name of ours.
                using var untag = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await client.UntagAsync($"{tagged}:{tag}", untag.Token).ConfigureAwait(false);
            }
            var manifest = server.FindManifest(repository, tag)
                ?? throw new OccystrapException($"the daemon at {client.Socket} finished pushing {reference} without sending a manifest");
            WriteLayout(storage, manifest);
            var image = OciLayoutImage.Open(storage, null, invocation.Platform, invocation.Logger);
            return new PushedImage(ImageName.Parse(reference), image, server, storage, client);
        }
        catch
        {
            if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
            Remove(storage);
            client.Dispose();
            throw;
        }
    }

    /// <summary>Makes the server's store an OCI layout of the one image received, so the layout reader (and its checks) reads it.</summary>
    private static void WriteLayout(string storage, ManifestReceived manifest)
    {
        File.WriteAllText(Path.Combine(storage, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = manifest.MediaType,
                ["digest"] = manifest.Digest.ToString(),
                ["size"] = manifest.Bytes.Length,
            }),
        };
        File.WriteAllBytes(Path.Combine(storage, "index.json"), JsonText.Serialize(index));
        // The manifest itself is a blob of the layout.
        string path = Path.Combine(storage, "blobs", manifest.Digest.Algorithm, manifest.Digest.Hex);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, manifest.Bytes);
    }

    internal static void Remove(string storage)
    {
        try
        {
            if (Directory.Exists(storage)) Directory.Delete(storage, recursive: true);
        }
        catch (IOException)
        {
            // a temp folder left behind is not the run's error
        }
    }

    /// <summary>The received image, read as a layout, under the daemon's name for it; owns the server and its folder.</summary>
    private sealed class PushedImage(ImageName name, OciLayoutImage image, EmbeddedRegistry server, string storage, EngineClient client) : IImageSource
    {
        public ImageName Name => name;
        public ReadOnlyMemory<byte> Config => image.Config;
        public ImageDocument? Manifest => image.Manifest;
        public IReadOnlyList<ISourceLayer> Layers => image.Layers;

        public async ValueTask DisposeAsync()
        {
            await image.DisposeAsync().ConfigureAwait(false);
            await server.DisposeAsync().ConfigureAwait(false);
            Remove(storage);
            client.Dispose();
        }
    }
}

internal static partial class Log
{
    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Debug, Message = "the daemon pushes {Image} to the embedded registry at {Address}")]
    public static partial void LogPush(this Microsoft.Extensions.Logging.ILogger logger, string image, string address);
}
