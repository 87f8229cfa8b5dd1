namespace Occystrap.Abstractions;

/// <summary>What every plugin tells the host about itself.</summary>
public interface IPlugin
{
    /// <summary>The URI scheme (inputs, outputs) or the filter name, lower case.</summary>
    string Name { get; }

    /// <summary>One line for the <c>plugins</c> listing and help.</summary>
    string Description { get; }

    /// <summary>The options the plugin takes (URI query options or filter options).</summary>
    IReadOnlyList<OptionDescriptor> Options { get; }
}

/// <summary>Opens a source image from <c>scheme://target?options</c>.</summary>
public interface IInputPlugin : IPlugin
{
    Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken);
}

/// <summary>Creates a destination for one image from <c>scheme://target?options</c>.</summary>
public interface IOutputPlugin : IPlugin
{
    /// <param name="source">The image being written: its name and layers, so that the sink can name what it writes.</param>
    Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken);
}

/// <summary>Creates one filter instance for one <c>-f name:k=v,...</c> on the command line.</summary>
public interface IFilterPlugin : IPlugin
{
    IImageFilter Create(PluginInvocation invocation);
}
