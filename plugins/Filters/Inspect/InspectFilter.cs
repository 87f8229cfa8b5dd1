using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Filters.Inspect;

/// <summary>
/// <c>inspect:file=PATH</c>: appends one JSON line per image to PATH with the layers as they stand at
/// this place in the filter chain (digest, size, history), newest layer first. Changes nothing.
/// Several processes may append to one file: each line is written whole under an exclusive lock.
/// </summary>
[FilterPlugin("inspect")]
public sealed class InspectFilter : IFilterPlugin
{
    public string Description => "Append the layer digests, sizes and history at this point of the chain to a JSONL file";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("file", OptionType.String, "The JSONL file to append to") { Required = true },
    ];

    public IImageFilter Create(PluginInvocation invocation)
    {
        string file = invocation.Options.GetString("file")!;
        string? folder = Path.GetDirectoryName(Path.GetFullPath(file));
        if (folder is not null && !Directory.Exists(folder))
            throw new UsageException($"filter 'inspect': the folder of {file} does not exist");
        return new Filter(file, invocation.Logger);
    }

    private sealed class Filter(string file, ILogger log) : IImageFilter
    {
        public bool ObservesLayers => true;

        public async ValueTask<ReadOnlyMemory<byte>> EndAsync(ImageResult image, CancellationToken cancellationToken)
        {
            string name = image.Name.IsUnnamed ? "unknown" : image.Name.ToString();
            var layerHistory = ImageConfig.Parse(image.Config).LayerHistory;
            var layers = new JsonArray();
            for (int i = image.Layers.Count - 1; i >= 0; i--)
            {
                var h = i < layerHistory.Count ? layerHistory[i] : null;
                var layer = image.Layers[i];
                layers.Add(new JsonObject
                {
                    ["Comment"] = h?.Comment ?? "",
                    ["Created"] = h?.Created?.ToUnixTimeSeconds() ?? 0,
                    ["CreatedBy"] = h?.CreatedBy ?? "",
                    ["Id"] = layer.DiffId.ToString(),
                    ["Size"] = layer.Size,
                    ["Tags"] = i == image.Layers.Count - 1 && !image.Name.IsUnnamed ? new JsonArray(name) : null,
                });
            }
            var record = new JsonObject { ["layers"] = layers, ["name"] = name };
            byte[] line = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(JsonText.Serialize(record)) + "\n");
            await AppendAsync(line, cancellationToken).ConfigureAwait(false);
            log.LogInformation("inspect: wrote {Count} layers of {Image} to {File}", image.Layers.Count, name, file);
            return image.Config;
        }

        private async Task AppendAsync(byte[] line, CancellationToken ct)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    await using var stream = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.None, 1);
                    await stream.WriteAsync(line, ct).ConfigureAwait(false);
                    return;
                }
                catch (IOException) when (DateTime.UtcNow < deadline && File.Exists(file))
                {
                    await Task.Delay(20, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new OccystrapException($"inspect: cannot append to {file}: {e.Message}");
                }
            }
        }
    }
}
