using AgentStreaming.Client.Commands;

return await ClientCommandLine.InvokeAsync(args);
