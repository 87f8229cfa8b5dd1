using System.Net;
using System.Security.Cryptography;
using Occystrap.Abstractions;
using Occystrap.Formats.Daemons;
using Occystrap.RegistryServer;

namespace Occystrap.Inputs.DockerPush;

/// <summary>
/// <c>dockerpush://IMAGE[:TAG][?socket=PATH]</c>: the daemon pushes the image, layers in parallel and
/// compressed, to a registry this process serves on loopback for the run, over HTTPS with a certificate
/// and a credential made for the run. Each layer enters the pipeline as soon as its blob has arrived, while
/// the daemon is still pushing the others. The image is tagged for that registry only while the push runs:
/// the name is removed after success, after a failure and on an interrupt.
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
        PushedImage? image = null;
        try
        {
            // Known before anything is started: a missing image fails here, with the daemon's words.
            var inspect = await client.InspectImageAsync(reference, cancellationToken).ConfigureAwait(false);
            var (id, diffIds) = DaemonImage.IdAndLayers(inspect, $"{client.Socket}: image {reference}");
            var notes = invocation.LayerCache is { } query ? DigestNotes.Load(query.Path + ".digests", invocation.Logger) : null;
            string password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            image = new PushedImage(ImageName.Parse(reference), reference, id, diffIds, client, storage, password, invocation.LayerCache, notes, invocation.Logger);
            await image.StartAsync(new RegistryServerOptions
            {
                StorageRoot = storage,
                // HTTPS with a certificate made for this run: dockerd skips verification for 127.0.0.0/8,
                // and Podman is told not to verify (tlsVerify=false), so no daemon setting changes.
                Https = true,
                Basic = new NetworkCredential("occystrap", password),
                BlobsHeldElsewhere = image.HeldElsewhere,
                RequestLog = line => invocation.Logger.LogRequest(line),
            }, cancellationToken).ConfigureAwait(false);
            return image;
        }
        catch
        {
            if (image is not null) await image.DisposeAsync().ConfigureAwait(false);
            else
            {
                PushedImage.Remove(storage);
                client.Dispose();
            }
            throw;
        }
    }
}

internal static partial class Log
{
    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Debug, Message = "the daemon pushes {Image} to the embedded registry at {Address}")]
    public static partial void LogPush(this Microsoft.Extensions.Logging.ILogger logger, string image, string address);

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Trace, Message = "embedded registry: {Request}")]
    public static partial void LogRequest(this Microsoft.Extensions.Logging.ILogger logger, string request);
}
